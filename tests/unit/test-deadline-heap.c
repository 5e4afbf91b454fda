/* Unit tests of the deadline heap against a sorted reference. */
#undef G_DISABLE_ASSERT
#include <glib.h>

#include "deadline-heap.h"

static int compare_u64(gconstpointer a, gconstpointer b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

static void test_random_operations(void) {
        enum { N = 2000 };
        DeadlineHeap heap = DEADLINE_HEAP_INIT;
        DeadlineHeapNode *nodes = g_new0(DeadlineHeapNode, N);
        GRand *rand = g_rand_new_with_seed(42);

        for (int step = 0; step < 50000; step++) {
                DeadlineHeapNode *n = &nodes[g_rand_int_range(rand, 0, N)];

                switch (g_rand_int_range(rand, 0, 3)) {
                case 0:
                case 1:
                        deadline_heap_put(&heap, n, g_rand_int_range(rand, 0, 100000));
                        g_assert_true(deadline_heap_node_is_queued(n));
                        break;
                default:
                        deadline_heap_remove(&heap, n);
                        g_assert_false(deadline_heap_node_is_queued(n));
                }

                if (step % 1000 == 0) {
                        uint64_t min = UINT64_MAX;
                        size_t queued = 0;

                        for (int i = 0; i < N; i++)
                                if (deadline_heap_node_is_queued(&nodes[i])) {
                                        queued++;
                                        min = MIN(min, nodes[i].deadline);
                                }
                        g_assert_cmpuint(queued, ==, heap.n_nodes);
                        if (queued > 0)
                                g_assert_cmpuint(deadline_heap_peek(&heap)->deadline, ==, min);
                }
        }

        /* Draining pops in sorted order. */
        g_autoptr(GArray) expected = g_array_new(FALSE, FALSE, sizeof(uint64_t));
        for (int i = 0; i < N; i++)
                if (deadline_heap_node_is_queued(&nodes[i]))
                        g_array_append_val(expected, nodes[i].deadline);
        g_array_sort(expected, compare_u64);
        for (guint i = 0; i < expected->len; i++) {
                DeadlineHeapNode *top = deadline_heap_peek(&heap);

                g_assert_nonnull(top);
                g_assert_cmpuint(top->deadline, ==, g_array_index(expected, uint64_t, i));
                deadline_heap_remove(&heap, top);
        }
        g_assert_null(deadline_heap_peek(&heap));

        deadline_heap_deinit(&heap);
        g_rand_free(rand);
        g_free(nodes);
}

static void test_move(void) {
        DeadlineHeap heap = DEADLINE_HEAP_INIT;
        DeadlineHeapNode a = {}, b = {}, c = {};

        deadline_heap_put(&heap, &a, 10);
        deadline_heap_put(&heap, &b, 20);
        deadline_heap_put(&heap, &c, 30);
        g_assert_true(deadline_heap_peek(&heap) == &a);
        deadline_heap_put(&heap, &c, 5);
        g_assert_true(deadline_heap_peek(&heap) == &c);
        deadline_heap_put(&heap, &c, 50);
        g_assert_true(deadline_heap_peek(&heap) == &a);
        deadline_heap_remove(&heap, &a);
        g_assert_true(deadline_heap_peek(&heap) == &b);
        deadline_heap_remove(&heap, &a);
        g_assert_cmpuint(heap.n_nodes, ==, 2);
        deadline_heap_deinit(&heap);
        g_assert_false(deadline_heap_node_is_queued(&b));
}

/* A heap that grew gives its memory back as it empties, and stays a heap meanwhile; the spare field is
 * its embedder's. */
static void test_shrink(void) {
        enum { N = 100000 };
        DeadlineHeap heap = DEADLINE_HEAP_INIT;
        DeadlineHeapNode *nodes = g_new0(DeadlineHeapNode, N);
        uint64_t last = 0;

        for (uint32_t i = 0; i < N; i++) {
                nodes[i].spare = i;
                deadline_heap_put(&heap, &nodes[i], (uint64_t) (i * 7919u % N));
        }
        g_assert_cmpuint(heap.n_allocated, >=, N);

        for (size_t i = 0; i < N - 10; i++) {
                DeadlineHeapNode *top = deadline_heap_peek(&heap);

                g_assert_cmpuint(top->deadline, >=, last);
                last = top->deadline;
                deadline_heap_remove(&heap, top);
                g_assert_cmpuint(heap.n_allocated, >=, heap.n_nodes);
        }
        g_assert_cmpuint(heap.n_nodes, ==, 10);
        g_assert_cmpuint(heap.n_allocated, ==, DEADLINE_HEAP_MIN_ALLOCATED);

        for (uint32_t i = 0; i < N; i++)
                g_assert_cmpuint(nodes[i].spare, ==, i);
        deadline_heap_deinit(&heap);
        g_free(nodes);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/deadline-heap/random-operations", test_random_operations);
        g_test_add_func("/deadline-heap/move", test_move);
        g_test_add_func("/deadline-heap/shrink", test_shrink);
        return g_test_run();
}
