package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/shopflow/shopflow/internal/config"
	"github.com/shopflow/shopflow/sagas"
)

const dltUsage = `usage:
  shopflow dlt list <context>                       list the dead letters of a context's reactor (or of "projections")
  shopflow dlt redrive <context> <topic/partition/offset>...   re-publish them to their source topics
  shopflow dlt redrive <context> --all              re-publish every dead letter of the context`

// dlt lists or re-drives the dead letters of a context (orders, inventory, payments).
func dlt(ctx context.Context, cfg config.Config, args []string) error {
	if len(args) < 2 || !(slices.Contains(config.Contexts, args[1]) || args[1] == "projections") {
		return errors.New(dltUsage)
	}
	opts, err := cfg.Kafka.Security().Opts()
	if err != nil {
		return err
	}
	letters, err := sagas.ListDeadLetters(ctx, cfg.KafkaBrokers, cfg.DeadLetterTopic(args[1]), opts...)
	if err != nil {
		return err
	}
	switch {
	case args[0] == "list" && len(args) == 2:
		printDeadLetters(letters)
		return nil
	case args[0] == "redrive" && len(args) > 2:
		chosen, err := chooseDeadLetters(letters, args[2:])
		if err != nil {
			return err
		}
		if err := sagas.Redrive(ctx, cfg.KafkaBrokers, chosen, opts...); err != nil {
			return err
		}
		fmt.Printf("re-published %d dead letter(s)\n", len(chosen))
		return nil
	}
	return errors.New(dltUsage)
}

func printDeadLetters(letters []sagas.DeadLetter) {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "DEAD LETTER\tSOURCE\tEVENT\tFAILED AT\tERROR")
	for _, l := range letters {
		fmt.Fprintf(w, "%s\t%s/%d/%d\t%s\t%s\t%s\n", l.String(), l.SourceTopic, l.SourcePartition, l.SourceOffset,
			l.EventType, l.FailedAt.Format(time.RFC3339), l.Error)
	}
	_ = w.Flush()
}

// chooseDeadLetters picks the letters named "topic/partition/offset", or all with --all.
func chooseDeadLetters(letters []sagas.DeadLetter, names []string) ([]sagas.DeadLetter, error) {
	if len(names) == 1 && names[0] == "--all" {
		return letters, nil
	}
	var chosen []sagas.DeadLetter
	for _, n := range names {
		i := slices.IndexFunc(letters, func(l sagas.DeadLetter) bool { return l.String() == n })
		if i < 0 {
			return nil, fmt.Errorf("no dead letter %s (see shopflow dlt list)", n)
		}
		chosen = append(chosen, letters[i])
	}
	return chosen, nil
}
