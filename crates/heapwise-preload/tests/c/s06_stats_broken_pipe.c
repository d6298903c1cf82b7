/* A program whose stderr is a pipe nobody reads any more: the library's writes there (the
 * exit summary of HEAPWISE_STATS=1, the line about a bad option value at start-up) fail
 * (EPIPE), and they must not kill the program with SIGPIPE, whose exit status is then its
 * own, as without the preload.
 *
 * The program makes a pipe, closes its read end and runs itself again (argv[1] = "child")
 * with that pipe as fd 2 (exec'd, so the child's library finds the pipe as its stderr at
 * start-up); the child allocates and exits with status 7. Prints the child's fate:
 * "child: exit 7" or "child: signal N". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        char *p = malloc(100);
        free(p);
        return 7;
    }
    int fds[2];
    if (pipe(fds) != 0)
        return 2;
    close(fds[0]);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return 2;
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[1]);
        execl("/proc/self/exe", argv[0], "child", (char *)NULL);
        _exit(3);
    }
    close(fds[1]);
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return 2;
    if (WIFSIGNALED(st))
        printf("child: signal %d\n", WTERMSIG(st));
    else
        printf("child: exit %d\n", WEXITSTATUS(st));
    return WIFEXITED(st) && WEXITSTATUS(st) == 7 ? 0 : 1;
}
