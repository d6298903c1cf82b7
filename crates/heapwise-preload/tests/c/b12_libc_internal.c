/* Behaviour 12: memory allocated inside libc (strdup, getline, asprintf, fopen, ...) is
 * heapwise's: malloc_usable_size knows it, and free releases it. */
#include "hw_test.h"
#include <dirent.h>
#include <limits.h>
#include <malloc.h>
#include <regex.h>
#include <stdarg.h>

static int vformat(char **out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(out, fmt, ap);
    va_end(ap);
    return n;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int main(void)
{
    hw_begin("b12_libc_internal");
    /* With heapwise: libc's internal malloc calls show in heapwise's own counters. */
    struct heapwise_stats s0, s1, s2;
    if (hw_stats(&s0) == 0) {
        char *d = strdup("counted by heapwise");
        hw_stats(&s1);
        free(d);
        hw_stats(&s2);
        CHECK(s1.mallocs == s0.mallocs + 1 && s2.frees == s1.frees + 1,
              "strdup -> heapwise mallocs %llu -> %llu, free -> frees %llu -> %llu",
              (unsigned long long)s0.mallocs, (unsigned long long)s1.mallocs,
              (unsigned long long)s1.frees, (unsigned long long)s2.frees);
        FILE *f = fopen("/proc/self/statm", "r");
        hw_stats(&s1);
        if (f)
            fclose(f);
        hw_stats(&s2);
        CHECK(f && s1.mallocs > s0.mallocs + 1 && s2.frees > s1.frees,
              "fopen/fclose allocate and free their FILE through heapwise");
    }
    for (int round = 0; round < 50; round++) {
        char *s = strdup("the quick brown fox jumps over the lazy dog");
        if (round == 0)
            CHECK(s && malloc_usable_size(s) >= 44, "strdup: usable %zu",
                  s ? malloc_usable_size(s) : 0);
        free(s);
        char *t = strndup("abcdefghijklmnopqrstuvwxyz", 10);
        if (round == 0)
            CHECK(t && strcmp(t, "abcdefghij") == 0 && malloc_usable_size(t) >= 11, "strndup");
        free(t);
    }

    char *a = NULL;
    int n = asprintf(&a, "%s-%d-%0*d", "asprintf", 42, 300, 7);
    CHECK(n == 312 && a && strlen(a) == 312 && malloc_usable_size(a) >= 313,
          "asprintf: n=%d usable %zu", n, a ? malloc_usable_size(a) : 0);
    free(a);
    char *v = NULL;
    n = vformat(&v, "%08x|%s", 0xbeefu, "vasprintf");
    CHECK(n == 18 && v && strcmp(v, "0000beef|vasprintf") == 0 && malloc_usable_size(v) >= 19,
          "vasprintf: %s", v ? v : "(null)");
    free(v);

    /* getline/getdelim grow their buffer with realloc. */
    char path[] = "/tmp/heapwise-b12-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    FILE *w = fdopen(fd, "w");
    for (int i = 0; i < 200; i++) {
        for (int j = 0; j <= i * 37; j++)
            fputc('a' + (i + j) % 26, w);
        fputc('\n', w);
    }
    fclose(w);
    int lines_ok = 1, lines = 0;
    for (int round = 0; round < 5; round++) {
        FILE *f = fopen(path, "r");
        if (!f) {
            lines_ok = 0;
            break;
        }
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        int i = 0;
        while ((len = getline(&line, &cap, f)) > 0) {
            if (len != i * 37 + 2 || malloc_usable_size(line) < (size_t)len + 1 ||
                line[0] != 'a' + i % 26)
                lines_ok = 0;
            i++;
            lines++;
        }
        free(line);
        fclose(f);
        if (i != 200)
            lines_ok = 0;
    }
    CHECK(lines_ok, "getline over 5 x 200 lines (%d read): buffer grown by libc, freed here",
          lines);
    FILE *f = fopen(path, "r");
    char *rec = NULL;
    size_t cap = 0;
    ssize_t len = getdelim(&rec, &cap, 'z', f);
    CHECK(len > 0 && rec[len - 1] == 'z' && malloc_usable_size(rec) >= (size_t)len + 1,
          "getdelim: %zd bytes", len);
    free(rec);
    fclose(f);

    /* open_memstream: libc reallocs the buffer, the caller frees it. */
    char *buf = NULL;
    size_t size = 0;
    FILE *ms = open_memstream(&buf, &size);
    for (int i = 0; i < 5000; i++)
        fprintf(ms, "%d,", i);
    fclose(ms);
    CHECK(buf && size > 20000 && strncmp(buf, "0,1,2,", 6) == 0 && malloc_usable_size(buf) > size,
          "open_memstream: %zu bytes", size);
    free(buf);

    char *rp = realpath("/tmp/../tmp/.", NULL);
    CHECK(rp && strcmp(rp, "/tmp") == 0 && malloc_usable_size(rp) >= 5, "realpath(.., NULL) = %s",
          rp ? rp : "(null)");
    free(rp);

    struct dirent **names = NULL;
    int nd = scandir("/", &names, NULL, alphasort);
    int names_ok = nd > 3;
    for (int i = 0; i < nd; i++) {
        if (malloc_usable_size(names[i]) < 1)
            names_ok = 0;
        free(names[i]);
    }
    free(names);
    CHECK(names_ok, "scandir(\"/\"): %d entries, each freed", nd);

    regex_t re;
    int rc = regcomp(&re, "^([a-z]+)-([0-9]+)$", REG_EXTENDED);
    regmatch_t m[3];
    CHECK(rc == 0 && regexec(&re, "heap-4242", 3, m, 0) == 0 && m[2].rm_so == 5,
          "regcomp/regexec");
    regfree(&re);

    /* glibc's qsort takes a malloc'ed buffer for large arrays. */
    enum { Q = 200000 };
    int *arr = malloc(Q * sizeof *arr);
    for (int i = 0; i < Q; i++)
        arr[i] = (int)((i * 2654435761u) % 1000003u);
    qsort(arr, Q, sizeof *arr, cmp_int);
    int sorted = 1;
    for (int i = 1; i < Q; i++)
        if (arr[i - 1] > arr[i])
            sorted = 0;
    free(arr);
    CHECK(sorted, "qsort of %d ints", Q);

    /* Many FILE objects (malloc'ed inside fopen, freed inside fclose). */
    int files_ok = 1;
    FILE *fs[64];
    for (int i = 0; i < 64; i++)
        if (!(fs[i] = fopen(path, "r")))
            files_ok = 0;
    for (int i = 0; i < 64; i++)
        if (fs[i]) {
            char c = 0;
            if (fread(&c, 1, 1, fs[i]) != 1 || c != 'a')
                files_ok = 0;
            fclose(fs[i]);
        }
    CHECK(files_ok, "64 FILEs opened, read and closed");
    unlink(path);
    return hw_finish();
}
