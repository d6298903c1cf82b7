/* Behaviour 27: threads that call fork() at the same time (node's worker threads spawning
 * children, for instance): glibc runs the fork handlers of concurrent forks at once, and
 * every fork must complete in parent and child. Two threads x 200 forks, each child
 * allocating before it exits. */
#include "hw_test.h"
#include <pthread.h>
#include <sys/wait.h>

static void *forker(void *arg)
{
    (void)arg;
    uintptr_t ok = 0;
    for (int i = 0; i < 200; i++) {
        pid_t c = fork();
        if (c == 0) {
            void *p = malloc(100);
            _exit(p ? 0 : 1);
        }
        int st = -1;
        if (c > 0 && waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0)
            ok++;
        free(malloc(100));
    }
    return (void *)ok;
}

int main(void)
{
    hw_begin("b27_concurrent_fork");
    free(malloc(1));
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, forker, NULL);
    uintptr_t ok = 0;
    for (int i = 0; i < 2; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        ok += (uintptr_t)r;
    }
    CHECK(ok == 400, "2 threads x 200 concurrent forks, children allocated and exited 0: %lu",
          (unsigned long)ok);
    return hw_finish();
}
