package console

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// Signing in. A browser cannot send an Authorization header when it follows a link, so the
// console keeps the operator's bearer token in a cookie that the API's guard reads on
// /console routes only (api.ConsoleTokenCookie): HttpOnly (no script reads it),
// SameSite=Strict (no other site's page sends it) and limited to /console. The token is
// checked by the guard on every page, like a header's; this page only hands it over.
const (
	// TokenCookie is the cookie holding the token.
	TokenCookie = "shopflow_console_token"
	// LoginPath and LogoutPath are the sign-in page and the sign-out form's target.
	LoginPath  = "/console/login"
	LogoutPath = "/console/logout"
)

// loginData is the sign-in page's data.
type loginData struct {
	Next, Why string
}

func (p *Pages) login(c echo.Context) error {
	d := loginData{Next: safeNext(c.QueryParam("next")), Why: c.QueryParam("why")}
	return p.render(c, http.StatusOK, "login", page{Title: "Sign in", Nav: "login", Data: d})
}

// signIn stores the posted token in the cookie and goes on to the page asked for; the
// guard judges the token there (and sends the browser back here if it does not do).
func (p *Pages) signIn(c echo.Context) error {
	if err := sameOrigin(c); err != nil {
		return err
	}
	token := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(c.FormValue("token")), "Bearer "))
	next := safeNext(c.FormValue("next"))
	if token == "" {
		d := loginData{Next: next, Why: "paste a token first"}
		return p.render(c, http.StatusBadRequest, "login", page{Title: "Sign in", Nav: "login", Data: d})
	}
	c.SetCookie(p.cookie(c, token, 0))
	return c.Redirect(http.StatusSeeOther, next)
}

func (p *Pages) signOut(c echo.Context) error {
	if err := sameOrigin(c); err != nil {
		return err
	}
	c.SetCookie(p.cookie(c, "", -1))
	return c.Redirect(http.StatusSeeOther, LoginPath+"?why=signed+out")
}

// cookie is the token cookie with value; maxAge -1 deletes it, 0 lasts the browser session.
func (p *Pages) cookie(c echo.Context, value string, maxAge int) *http.Cookie {
	ck := &http.Cookie{Name: TokenCookie, Value: value, Path: "/console", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: c.Request().TLS != nil, MaxAge: maxAge}
	if maxAge < 0 {
		ck.Expires = time.Unix(0, 0)
	}
	return ck
}

// safeNext keeps a redirect target on the console: a path under /console, else /console.
func safeNext(next string) string {
	if (next == "/console" || strings.HasPrefix(next, "/console/") || strings.HasPrefix(next, "/console?")) &&
		!strings.HasPrefix(next, "//") && !strings.Contains(next, "\\") && !strings.HasPrefix(next, LoginPath) {
		return next
	}
	return "/console"
}
