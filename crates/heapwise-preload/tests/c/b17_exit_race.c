/* Process exit while other threads are inside malloc/free/realloc: exit() (from main or from
 * a worker thread) must end the process with its status, never hang or crash, also while
 * HEAPWISE_STATS/HEAPWISE_TRACE write their summary/trace at exit. Each round is a forked
 * child (alarm() turns a hang into SIGALRM). */
#include "hw_test.h"
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

enum { ROUNDS = 24, THREADS = 4 };

static void *churn(void *arg)
{
    unsigned s = (unsigned)(uintptr_t)arg * 2654435761u + 1;
    void *keep[32] = {0};
    for (;;) {
        s = s * 1103515245u + 12345u;
        unsigned i = (s >> 8) % 32;
        size_t n = (s >> 12) % 50 == 0 ? 200000 : (s >> 12) % 3000 + 1;
        if (keep[i] && (s & 1)) {
            void *r = realloc(keep[i], n);
            if (r)
                keep[i] = r;
        } else {
            free(keep[i]);
            keep[i] = malloc(n);
        }
        if (keep[i])
            ((unsigned char *)keep[i])[0] = (unsigned char)s;
    }
    return NULL;
}

static void *exiter(void *arg)
{
    usleep(3000 + (useconds_t)(uintptr_t)arg * 500);
    exit(42); /* from a worker thread, while the others allocate */
}

static int child(int round)
{
    alarm(20);
    pthread_t t[THREADS + 1];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(round * 10 + i));
    if (round % 2) {
        pthread_create(&t[THREADS], NULL, exiter, (void *)(uintptr_t)round);
        for (;;)
            pause();
    }
    usleep(3000 + (useconds_t)round * 500);
    return 42; /* return from main = exit(42) while the threads allocate */
}

int main(void)
{
    hw_begin("b17_exit_race");
    int good = 0, hung = 0, other = 0;
    for (int r = 0; r < ROUNDS; r++) {
        pid_t pid = fork();
        if (pid == 0)
            exit(child(r));
        int st = 0;
        waitpid(pid, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 42)
            good++;
        else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
            hung++;
        else {
            other++;
            printf("# round %d: wait status %#x\n", r, st);
        }
    }
    CHECK(good == ROUNDS, "%d of %d processes exited with status 42 while 4 threads allocated "
          "(%d hung, %d crashed/other)", good, ROUNDS, hung, other);
    return hw_finish();
}
