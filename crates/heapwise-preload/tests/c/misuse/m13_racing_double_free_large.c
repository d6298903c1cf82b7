/* 13. two threads free the same large (mmap) block at the same moment: exactly one free
 * passes and the other is reported as a double free (never a crash, another label, or two
 * passes that leave the block's memory owned twice). */
#include "misuse.h"
#include <pthread.h>
#include <stdatomic.h>

static void *p;
static atomic_int ready, go;

static void *racer(void *arg) {
    (void)arg;
    atomic_fetch_add(&ready, 1);
    while (!atomic_load(&go))
        ;
    free(launder(p));
    return NULL;
}

int main(void) {
    size_t n = 1 << 20;
    p = malloc(n);
    memset(p, 1, n);
    expect("double free of", p);
    pthread_t a, b;
    pthread_create(&a, NULL, racer, NULL);
    pthread_create(&b, NULL, racer, NULL);
    while (atomic_load(&ready) < 2)
        ;
    atomic_store(&go, 1);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    survived();
    return 0;
}
