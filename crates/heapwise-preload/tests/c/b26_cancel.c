/* Behaviour 26: threads cancelled (deferred cancellation) while they allocate and free, 20
 * rounds: every cancelled thread is joined and the allocator keeps serving. Under
 * HEAPWISE_TRACE the recorder writes its buffer from inside malloc: that write must not be a
 * cancellation point, or a thread cancelled there would leave the recorder's lock held. */
#include "hw_test.h"
#include <pthread.h>

static void *churn(void *arg)
{
    (void)arg;
    void *r[32] = {0};
    for (long i = 0;; i++) {
        int k = i & 31;
        free(r[k]);
        r[k] = malloc((size_t)(i % 500) + 1);
        if (i % 200000 == 0)
            pthread_testcancel();
    }
    return NULL;
}

int main(void)
{
    hw_begin("b26_cancel");
    int joined = 0;
    for (int round = 0; round < 20; round++) {
        pthread_t t;
        if (pthread_create(&t, NULL, churn, NULL) != 0)
            break;
        usleep(20000);
        pthread_cancel(t);
        void *res = NULL;
        if (pthread_join(t, &res) == 0 && res == PTHREAD_CANCELED)
            joined++;
        void *p = malloc(100);
        free(p);
    }
    CHECK(joined == 20, "20 threads cancelled while allocating, all joined (%d)", joined);
    return hw_finish();
}
