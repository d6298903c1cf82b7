/* A library loaded with dlopen by b18_early_init: allocates in its constructor, hands blocks
 * to the program, frees its own in the destructor at dlclose. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

static void *table[100];

__attribute__((constructor)) static void dl_ctor(void)
{
    for (int i = 0; i < 100; i++)
        table[i] = malloc((size_t)(i * 40 + 1));
}

__attribute__((destructor)) static void dl_dtor(void)
{
    for (int i = 0; i < 100; i++)
        free(table[i]);
}

char *dl_make(size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memset(p, 'd', n);
        p[n] = 0;
    }
    return p;
}
