/* 17. a SIGABRT handler that allocates and forks (a crash reporter, a backtrace) after a
 * misuse the engine finds with an arena's lock held (a free of an interior pointer): the
 * handler runs and the process dies of SIGABRT (before, the handler waited for ever on the
 * lock the abort left held). */
#include "misuse.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void crash_handler(int sig) {
    char *m = malloc(100); /* not async-signal-safe, but crash reporters do it */
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    if (child > 0)
        waitpid(child, NULL, 0);
    if (m) {
        strcpy(m, "crash handler ran\n");
        fputs(m, stdout);
        fflush(stdout);
        free(m);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(void) {
    signal(SIGABRT, crash_handler);
    char *a = malloc(64);
    char *b = malloc(64);
    (void)b;
    expect("invalid pointer of", a + 16);
    free(launder(a + 16));
    survived();
    return 0;
}
