/* perf_faults LIB PROG [ARGS...]: runs PROG with LIB preloaded and prints, after it (and
 * every process and thread it starts) has exited, each user-mode page fault it took:
 * `fault <instruction address> <faulting address>` in hex, from the kernel's software
 * page-fault event sampled at every fault (perf_event_open(2); no PMU needed).
 *
 * The event is opened on this thread (one per CPU: an inherited event can only be mapped
 * per CPU), disabled, with `enable_on_exec` and `inherit`: the forked child inherits it and
 * the kernel enables the child's copies when it `exec`s PROG, so the faults counted are
 * PROG's, and its threads' and children's, from its first instruction (the dynamic loader,
 * the preloaded library's constructors) to its exit; inherited events write into the ring
 * buffer of the event they come from. Exit status: PROG's status (2 when it did not exit normally), 3 when the
 * event cannot be opened (`perf_event_open: <reason>` on stderr), 4 when samples were
 * lost (the buffer was too small).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* 2^DATA_PAGES_LOG2 data pages: 2 MiB of 24-byte samples (~87 000 faults) per CPU. */
#define DATA_PAGES_LOG2 9
#define MIN_DATA_PAGES_LOG2 3

/* Most CPUs whose events are opened. */
#define MAX_CPUS 256

/* Prints the samples of one ring buffer (`meta` page, then `data_size` bytes of records) and
 * adds to the counts of samples and of lost-record notices. */
static void drain(unsigned char *ring, size_t page, size_t data_size, unsigned long *samples,
                  unsigned long *lost)
{
    struct perf_event_mmap_page *meta = (struct perf_event_mmap_page *)ring;
    uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
    uint64_t tail = meta->data_tail;
    unsigned char *data = ring + page;
    while (tail < head) {
        struct perf_event_header h;
        unsigned char rec[256];
        for (size_t i = 0; i < sizeof h; i++)
            ((unsigned char *)&h)[i] = data[(tail + i) % data_size];
        if (h.size < sizeof h || h.size > sizeof rec)
            break;
        for (size_t i = 0; i < h.size; i++)
            rec[i] = data[(tail + i) % data_size];
        if (h.type == PERF_RECORD_SAMPLE && h.size >= sizeof h + 16) {
            uint64_t ip, addr;
            memcpy(&ip, rec + sizeof h, 8);
            memcpy(&addr, rec + sizeof h + 8, 8);
            printf("fault %#llx %#llx\n", (unsigned long long)ip, (unsigned long long)addr);
            (*samples)++;
        } else if (h.type == PERF_RECORD_LOST) {
            (*lost)++;
        }
        tail += h.size;
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: perf_faults LIB PROG [ARGS...]\n");
        return 2;
    }
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_PAGE_FAULTS;
    attr.sample_period = 1;
    attr.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_ADDR;
    attr.disabled = 1;
    attr.enable_on_exec = 1;
    attr.inherit = 1;
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    long page = sysconf(_SC_PAGESIZE);
    long ncpu = sysconf(_SC_NPROCESSORS_CONF);
    if (ncpu < 1 || ncpu > MAX_CPUS)
        ncpu = MAX_CPUS;
    unsigned char *rings[MAX_CPUS];
    size_t sizes[MAX_CPUS];
    int nrings = 0;
    int log2 = DATA_PAGES_LOG2;
    for (int cpu = 0; cpu < ncpu; cpu++) {
        int fd = (int)syscall(SYS_perf_event_open, &attr, 0, cpu, -1, PERF_FLAG_FD_CLOEXEC);
        if (fd < 0) {
            if (errno == ENODEV || errno == EINVAL) /* an offline or absent CPU */
                continue;
            fprintf(stderr, "perf_event_open: %s\n", strerror(errno));
            return 3;
        }
        void *ring;
        for (;;) {
            ring = mmap(NULL, (size_t)page + ((size_t)page << log2), PROT_READ | PROT_WRITE,
                        MAP_SHARED, fd, 0);
            /* An unprivileged user may lock only perf_event_mlock_kb (516 KiB by default)
             * of ring buffers: smaller ones, down to 8 pages. */
            if (ring != MAP_FAILED || errno != EPERM || log2 <= MIN_DATA_PAGES_LOG2)
                break;
            log2--;
        }
        if (ring == MAP_FAILED) {
            fprintf(stderr, "perf_event_open: mmap of the ring buffer: %s\n",
                    strerror(errno));
            return 3;
        }
        sizes[nrings] = (size_t)page << log2;
        rings[nrings++] = ring;
    }
    if (nrings == 0) {
        fprintf(stderr, "perf_event_open: no CPU accepted the event\n");
        return 3;
    }

    char preload[4096];
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", argv[1]);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        size_t n = 0;
        while (environ[n])
            n++;
        char **env = calloc(n + 2, sizeof *env);
        if (!env)
            _exit(127);
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0)
                env[k++] = environ[i];
        env[k++] = preload;
        env[k] = NULL;
        execve(argv[2], argv + 2, env);
        perror("execve");
        _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) {
        perror("waitpid");
        return 2;
    }
    /* Grandchildren PROG forked were reaped by PROG (the test programs wait for theirs). */

    unsigned long lost = 0, samples = 0;
    for (int r = 0; r < nrings; r++)
        drain(rings[r], (size_t)page, sizes[r], &samples, &lost);
    printf("samples %lu lost %lu\n", samples, lost);
    fflush(stdout);
    if (lost)
        return 4;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}
