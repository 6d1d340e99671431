// Package crashtest holds the crash test of the compute node; it has no
// code of its own, only a test.
//
// The test builds the cleanroom binary and runs `cleanroom node` as a
// child process on one data directory that all trials share, so crashes
// pile up as they would in real life. Setup registers the parties, a
// scenario, three datasets with a few hundred rows each and an approved
// letter whose budget outlasts every trial. In each trial four clients send
// a stream of signed queries with fresh nonces (allowed queries, dry runs,
// denied row-level queries, queries signed by an unregistered key, replays
// of answered queries, at most one small sealed upload), a fifth reads the
// checkpoint, /v1/info and the letter's budget. The node is killed with
// SIGKILL after a random delay (5 to 300 ms), sometimes killed again while
// it starts up, and restarted. It must start, and then:
//
//   - every decision, release, rejection and upload the clients saw
//     acknowledged is in the log at the index they were told, holding
//     exactly the statement they sent and the decision they got;
//   - the entries are 0 to size-1 with no gap and every one decodes; their
//     RFC 6962 root is the signed checkpoint's, entries of earlier trials
//     are unchanged, and every checkpoint the node signed and served before
//     the crash is a prefix of the log after it (no rollback);
//   - no budget debit is lost or doubled: the letter's spent budget on each
//     dataset equals the sum of the charges of the allowed, not dry-run
//     decisions in the log, and covers every acknowledged one; no nonce is
//     decided twice; each release follows its own allowed decision, once;
//   - a query sent again after the crash is refused as a replay (409)
//     exactly when its decision is in the log, and decided afresh
//     otherwise;
//   - the sealed store holds exactly the uploads the log accepted;
//   - after a clean stop (SIGTERM, exit 0), `cleanroom audit verify`
//     passes, and audit.Verify in-process (after every trial of a short
//     run, about 40 times in a long one): tree, checkpoint, signatures,
//     every decision decided again, no budget overspent; their reports
//     agree with the log as read.
//
// What the node showed the reading client (entries in /v1/info, budget
// spent) but had not made durable, and the crash took back, is reported in
// the test's log, not failed: nothing of it was acknowledged or acted on.
//
// # Running it
//
//	go test -race ./internal/crashtest/                            # 20 trials
//	CLEANROOM_CRASH_TRIALS=200 go test -race -timeout 60m ./internal/crashtest/
//
// The environment variables:
//
//	CLEANROOM_CRASH_TRIALS  number of trials (default 20)
//	CLEANROOM_CRASH_SEED    seed of the delays and the query mix (default: the clock)
//	CLEANROOM_CRASH_KEEP    an empty directory to work in and keep (data, node log)
//	CLEANROOM_CRASH_RACE    set to 1 to build the node with -race as well
//	CLEANROOM_CRASH_BIN     test this cleanroom binary instead of building one
//
// A failure names the trial and the seed and prints the node's log for
// that trial. The seed fixes the kill delays and the mix of queries, not
// the scheduling, so a rerun with the same seed reproduces the conditions
// rather than the exact interleaving. The test is skipped under -short.
package crashtest
