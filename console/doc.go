// Package console is Shopflow's operator console: what an on-call engineer needs, in a
// browser, served by `shopflow serve` under /console, and the same data as the JSON admin
// API (api.RegisterAdminRoutes).
//
// A [Service] gathers it from the contexts' event stores, Kafka and Elasticsearch:
//
//   - the overview (per context the relay, the reactor's lag per partition and the
//     deadline scanner; each read model; dead letters per topic; the servers' health), sampled
//     in the background by [Service.Run] every few seconds so that a page or an API call
//     answers from memory, with the samples of the last minutes for the plots;
//   - streams: found by id or type, their events a page at a time (a stream of any length
//     is never loaded whole), and time travel: an aggregate's state at any version or time,
//     folded by the domain's own code through command.Repository.LoadAt (a snapshot at or
//     before the version, then the events up to it, a page at a time);
//   - an order's journey: the events of its streams in all three contexts, and those written
//     in the same transactions that name it, on one timeline with the time of each hop and a
//     link to its trace when a trace UI is configured;
//   - dead letters per source, with whether the reactor's inbox has processed each since,
//     and their redrive;
//   - read-model rebuilds started in the background, with their progress.
//
// [Pages] renders the console's HTML from templates embedded in the binary; the overview
// refreshes itself with server-sent events, and nothing is fetched from the internet.
//
// Every console page and admin API route needs a bearer token with the admin scope: the
// API's one guard (api.Routes) gives every route not listed there api.AdminAccess. A
// browser hands its token over on the sign-in page (login.go), which keeps it in a cookie
// the guard reads on /console routes only.
package console
