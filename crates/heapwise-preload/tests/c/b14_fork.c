/* Behaviour 14: fork() while 4 threads allocate -> the child can malloc and free (also from a
 * new thread), and the parent's threads carry on. A child that deadlocks is killed by alarm()
 * and counted as a failure. */
#include "hw_test.h"
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

enum { THREADS = 4, FORKS = 30 };
static volatile int stop;
static long ops[THREADS];

static void *allocator_thread(void *arg)
{
    int id = (int)(intptr_t)arg;
    unsigned s = 12345u + (unsigned)id;
    void *keep[64] = {0};
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        s = s * 1103515245u + 12345u;
        unsigned i = (s >> 8) % 64;
        size_t n = (s >> 16) % 50 == 0 ? 100000 + (s >> 20) % 300000 : (s >> 12) % 2000 + 1;
        if (keep[i] && (s & 1)) {
            void *r = realloc(keep[i], n);
            if (r)
                keep[i] = r;
        } else {
            free(keep[i]);
            keep[i] = malloc(n);
        }
        if (keep[i])
            memset(keep[i], id, n < 256 ? n : 256);
        ops[id]++;
    }
    for (int i = 0; i < 64; i++)
        free(keep[i]);
    return NULL;
}

static void *child_thread(void *arg)
{
    (void)arg;
    int ok = 1;
    for (int i = 0; i < 200; i++) {
        void *p = malloc((size_t)(i * 53 + 1));
        if (!p)
            ok = 0;
        free(p);
    }
    return (void *)(intptr_t)ok;
}

static int child_work(void)
{
    int ok = 1;
    void *p[200];
    for (int i = 0; i < 200; i++) {
        size_t n = i % 40 == 0 ? (size_t)(200 << 10) : (size_t)(i * 97 % 3000 + 1);
        p[i] = i % 3 ? malloc(n) : calloc(1, n);
        if (!p[i] || !hw_fill_check(p[i], n, (unsigned)i))
            ok = 0;
    }
    for (int i = 0; i < 200; i += 2)
        p[i] = realloc(p[i], 5000);
    for (int i = 0; i < 200; i++)
        free(p[i]);
    char *s = strdup("child");
    ok &= s != NULL;
    free(s);
    pthread_t t;
    void *res = NULL;
    if (pthread_create(&t, NULL, child_thread, NULL) != 0 || pthread_join(t, &res) != 0 || !res)
        ok = 0;
    return ok;
}

int main(void)
{
    hw_begin("b14_fork");
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, allocator_thread, (void *)(intptr_t)i);
    int good = 0, hung = 0, failed = 0;
    for (int f = 0; f < FORKS; f++) {
        usleep(2000);
        pid_t pid = fork();
        if (pid == 0) {
            alarm(20);
            _exit(child_work() ? 0 : 3);
        }
        if (pid < 0) {
            failed++;
            continue;
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            good++;
        else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
            hung++;
        else {
            failed++;
            printf("# child %d: status %#x\n", f, st);
        }
        /* The parent allocates between forks too. */
        free(malloc((size_t)(f * 1000 + 1)));
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK(good == FORKS, "%d of %d children allocated and exited 0 (%d hung, %d failed)", good,
          FORKS, hung, failed);
    long total = 0;
    for (int i = 0; i < THREADS; i++)
        total += ops[i];
    CHECK(total > 1000, "the 4 parent threads kept allocating during the forks (%ld ops)", total);
    return hw_finish();
}
