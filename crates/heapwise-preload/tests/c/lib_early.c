/* A shared library whose constructor allocates (and starts a thread that allocates) before
 * the program's main runs, possibly before libheapwise's own constructor: the allocator must
 * initialise on first use. Preloaded beside libheapwise.so by b18_early_init. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static char *early_text;
static void *thread_block;

static void *early_thread(void *arg)
{
    (void)arg;
    void *p = malloc(5000);
    if (p)
        memset(p, 0x42, 5000);
    return p;
}

__attribute__((constructor)) static void early_ctor(void)
{
    early_text = malloc(100);
    if (early_text)
        strcpy(early_text, "allocated in a constructor");
    void *z = calloc(10, 10);
    free(z);
    char *d = strdup("strdup in a constructor");
    free(d);
    pthread_t t;
    if (pthread_create(&t, NULL, early_thread, NULL) == 0)
        pthread_join(t, &thread_block);
}

__attribute__((destructor)) static void early_dtor(void)
{
    free(early_text);
    free(thread_block);
}

const char *early_string(void) { return early_text; }
void *early_thread_block(void) { return thread_block; }
