/* Under helgrind: two threads increment a counter in a heap block without a lock: a real
 * data race of the program, which helgrind must still report on heapwise's block (while the
 * block handed over between threads through heapwise is not a race: v05 is clean). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *bump(void *arg) {
    long *counter = arg;
    for (int i = 0; i < 1000; i++) (*counter)++;
    return NULL;
}

int main(void) {
    long *counter = calloc(1, sizeof *counter);
    pthread_t a, b;
    pthread_create(&a, NULL, bump, counter);
    pthread_create(&b, NULL, bump, counter);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("%ld\n", *counter);
    free(counter);
    return 0;
}
