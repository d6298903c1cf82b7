/* HEAPWISE_STATS_FILE with %p: a forked child (no exec) and an exec'd child each append
 * their exit summary to the file named with their own pid, not the parent's. Prints
 * "parent PID", "child PID" and "leaf PID" on stdout; "leaf" as argv[1] is the exec'd
 * image. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void allocate(void)
{
    for (int i = 1; i <= 20; i++) {
        char *p = malloc((size_t)i * 100);
        if (p)
            memset(p, i, (size_t)i * 100);
        free(p);
    }
}

int main(int argc, char **argv)
{
    allocate();
    if (argc > 1 && strcmp(argv[1], "leaf") == 0) {
        printf("leaf %d\n", (int)getpid());
        return 0;
    }
    fflush(stdout);
    pid_t child = fork();
    if (child < 0)
        return 2;
    if (child == 0) {
        allocate();
        printf("child %d\n", (int)getpid());
        exit(0); /* the exit summary is written: destructors run */
    }
    int st;
    if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return 3;
    pid_t leaf = fork();
    if (leaf < 0)
        return 4;
    if (leaf == 0) {
        execl("/proc/self/exe", argv[0], "leaf", (char *)NULL);
        _exit(127);
    }
    if (waitpid(leaf, &st, 0) != leaf || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return 5;
    printf("parent %d\n", (int)getpid());
    return 0;
}
