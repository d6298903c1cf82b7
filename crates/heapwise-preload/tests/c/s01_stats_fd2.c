/* HEAPWISE_STATS=1 with a program that closes its stderr and opens a data file, which gets
 * fd 2: the exit summary must not be appended to that file. argv[1] is the data file. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    close(2);
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char *p = malloc(100);
    free(p);
    dprintf(fd, "payload fd=%d\n", fd);
    return fd == 2 ? 0 : 3;
}
