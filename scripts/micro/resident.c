/* Resident memory of a small program: 100 live blocks of 100 sizes (16..808 B), then the
 * resident KiB of [heap] and of the preloaded malloc library's writable data mapping(s)
 * (from /proc/self/smaps), and that mapping's written pages (present and anonymous, from
 * /proc/self/pagemap: a written page of a file mapping is a private copy; read pages the
 * kernel maps around a read fault are left out).
 *
 *   gcc -O2 -o resident scripts/micro/resident.c
 *   LD_PRELOAD=target/release/libheapwise.so ./resident libheapwise
 *
 * Prints "heap_kib=<n> lib_data_kib=<n> lib_data_written_pages=<n>" (the library fields are 0
 * when no mapping's path contains the argument). Not a timed benchmark. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *lib = argc > 1 ? argv[1] : "libheapwise";
    enum { N = 100 };
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = malloc(16 + 8 * i);
        if (!p[i]) return 1;
        memset(p[i], i, 16 + 8 * i);
    }
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return 1;
    char line[512], cur[512] = "";
    long heap = 0, data = 0, written = 0;
    int pm = open("/proc/self/pagemap", O_RDONLY);
    while (fgets(line, sizeof line, f)) {
        unsigned long s, e;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &s, &e, perms) == 3 && strchr(line, ' ')) {
            strcpy(cur, line);
            if (strstr(cur, lib) && !strcmp(perms, "rw-p") && pm >= 0) {
                for (unsigned long a = s; a < e; a += 4096) {
                    uint64_t v;
                    if (pread(pm, &v, 8, (off_t)(a / 4096 * 8)) == 8 && (v >> 63) &&
                        !((v >> 61) & 1))
                        written++;
                }
            }
            continue;
        }
        long kb;
        if (sscanf(line, "Rss: %ld kB", &kb) == 1) {
            if (strstr(cur, "[heap]")) heap += kb;
            else if (strstr(cur, lib) && strstr(cur, " rw-p ")) data += kb;
        }
    }
    fclose(f);
    printf("heap_kib=%ld lib_data_kib=%ld lib_data_written_pages=%ld\n", heap, data, written);
    for (int i = 0; i < N; i++) free(p[i]);
    return 0;
}
