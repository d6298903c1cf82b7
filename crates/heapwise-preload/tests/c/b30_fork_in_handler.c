/* Behaviour 30: a single-threaded program whose signal handler calls fork() (a crash
 * reporter or a supervisor that spawns a helper from SIGALRM/SIGCHLD/SIGSEGV) while the
 * interrupted code is inside malloc, free or realloc. fork() is async-signal-safe in a
 * single-threaded process (glibc takes no allocator lock then), so the fork must complete:
 * the allocator's fork handlers must not wait for a lock the interrupted code of the same
 * thread holds. The child only _exits; the parent goes on allocating and the heap checks
 * clean. An interval timer interrupts a loop that allocates and frees blocks of every kind
 * (cached small blocks, heap blocks, large mappings) until 300 forks were made. */
#include "hw_test.h"
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>

static volatile sig_atomic_t forks, children_ok;

static void on_alarm(int sig)
{
    (void)sig;
    int saved = errno;
    pid_t c = fork();
    if (c == 0)
        _exit(0);
    int st = -1;
    if (c > 0 && waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0)
        children_ok++;
    forks++;
    errno = saved;
}

int main(void)
{
    hw_begin("b30_fork_in_handler");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "SIGALRM handler installed");
    struct itimerval it = {{0, 1000}, {0, 1000}};
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "interval timer armed");

    enum { SLOTS = 64 };
    void *live[SLOTS] = {0};
    unsigned long ops = 0, failures = 0;
    unsigned x = 12345;
    while (forks < 300) {
        x = x * 1103515245u + 12345u;
        unsigned i = (x >> 8) % SLOTS;
        unsigned kind = (x >> 20) % 16;
        size_t size = kind < 12 ? 16 + (x >> 4) % 2000 : kind < 15 ? 4096 + (x >> 4) % 60000
                                                                   : 300000 + (x >> 4) % 700000;
        if (live[i] != NULL && (x >> 28) % 2 == 0) {
            void *q = realloc(live[i], size);
            if (q == NULL)
                failures++;
            else
                live[i] = q;
        } else {
            free(live[i]);
            live[i] = malloc(size);
            if (live[i] == NULL)
                failures++;
        }
        if (live[i] != NULL)
            memset(live[i], (int)i, 16);
        ops++;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    for (unsigned i = 0; i < SLOTS; i++)
        free(live[i]);
    CHECK(failures == 0, "every request of the loop succeeded (%lu failed)", failures);
    CHECK(forks >= 300 && children_ok == forks,
          "%d forks from the handler, %d children exited 0, %lu allocations meanwhile",
          (int)forks, (int)children_ok, ops);
    return hw_finish();
}
