/* stream_track.c - the offset tracker behind stream mode's commits
 * (wd_stream_track_*, stream.h): per input partition, a ring of the offsets
 * in flight and the committable position, which moves only over outputs
 * acknowledged in order. Only the poll thread touches it: no lock. */
#include "wiredup/stream.h"
#include "wiredup/mem.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "stream_int.h"

/* ==== Offset tracker ==== */

#define TRACK_SEQ_MASK ((UINT64_C(1) << TRACK_SEQ_BITS) - 1)

enum { ENT_PENDING = 0, ENT_ACKED = 1, ENT_FAILED = 2 };

typedef struct track_ent_s {
  int64_t offset;
  int state;
} track_ent_t;

typedef struct track_part_s {
  track_ent_t *ring;
  size_t cap, head, cnt; /* cnt entries from ring[head], wrapping */
  uint64_t base_seq;     /* sequence number of ring[head] */
  uint64_t next_seq;     /* sequence number the next push gets */
  int64_t next_offset;   /* committable position, -1 = none */
  int dirty;
} track_part_t;

struct wd_stream_track_s {
  track_part_t *parts;
  size_t part_cnt;
  int32_t *dirty; /* partitions with dirty set, in the order they moved */
  size_t dirty_cnt, dirty_cap;
};

wd_stream_track_t *wd_stream_track_new(void) {
  return wd_calloc(1, sizeof(wd_stream_track_t));
}

void wd_stream_track_destroy(wd_stream_track_t *trk) {
  if (!trk)
    return;
  for (size_t i = 0; i < trk->part_cnt; i++)
    wd_free(trk->parts[i].ring);
  wd_free(trk->parts);
  wd_free(trk->dirty);
  wd_free(trk);
}

static track_part_t *track_part(wd_stream_track_t *trk, int32_t partition) {
  assert(partition >= 0 && partition <= WD_STREAM_TRACK_MAX_PARTITION);
  if ((size_t)partition >= trk->part_cnt) {
    size_t cnt = (size_t)partition + 1;
    trk->parts = wd_realloc(trk->parts, cnt * sizeof(*trk->parts));
    memset(trk->parts + trk->part_cnt, 0,
           (cnt - trk->part_cnt) * sizeof(*trk->parts));
    for (size_t i = trk->part_cnt; i < cnt; i++)
      trk->parts[i].next_offset = -1;
    trk->part_cnt = cnt;
  }
  return &trk->parts[partition];
}

static void track_remove_dirty(wd_stream_track_t *trk, int32_t partition) {
  for (size_t i = 0; i < trk->dirty_cnt; i++) {
    if (trk->dirty[i] == partition) {
      memmove(trk->dirty + i, trk->dirty + i + 1,
              (trk->dirty_cnt - i - 1) * sizeof(*trk->dirty));
      trk->dirty_cnt--;
      return;
    }
  }
}

void wd_stream_track_reset(wd_stream_track_t *trk, int32_t partition) {
  track_part_t *tp = track_part(trk, partition);
  /* Keep next_seq: tokens handed out before the reset now fall below
   * base_seq and are recognised as stale. */
  tp->base_seq = tp->next_seq;
  tp->head = tp->cnt = 0;
  tp->next_offset = -1;
  if (tp->dirty) {
    tp->dirty = 0;
    track_remove_dirty(trk, partition);
  }
}

uint64_t wd_stream_track_push(wd_stream_track_t *trk, int32_t partition,
                              int64_t offset) {
  track_part_t *tp = track_part(trk, partition);
  /* A rewind (librdkafka reset the position, e.g. offset out of range after
   * an unclean leader election): what is in flight is consumed again, so it
   * is forgotten as on a reassignment and the offsets rise again. */
  if (tp->cnt > 0 &&
      tp->ring[(tp->head + tp->cnt - 1) % tp->cap].offset >= offset) {
    wd_stream_track_reset(trk, partition);
  }
  if (tp->cnt == tp->cap) /* grow to the high-water mark of offsets in flight */
    tp->ring = wd_ring_grow(tp->ring, sizeof(*tp->ring), &tp->head, tp->cnt, &tp->cap, 256);
  assert(tp->cnt == 0 ||
         tp->ring[(tp->head + tp->cnt - 1) % tp->cap].offset < offset);
  tp->ring[(tp->head + tp->cnt) % tp->cap] = (track_ent_t){offset, ENT_PENDING};
  tp->cnt++;
  uint64_t seq = tp->next_seq++;
  return ((uint64_t)(partition + 1) << TRACK_SEQ_BITS) | (seq & TRACK_SEQ_MASK);
}

static int track_ack_at(wd_stream_track_t *trk, int32_t partition, size_t i, int ok);

int wd_stream_track_ack(wd_stream_track_t *trk, uint64_t token, int ok) {
  uint64_t hi = token >> TRACK_SEQ_BITS;
  if (hi == 0 || hi - 1 >= trk->part_cnt)
    return 0;
  int32_t partition = (int32_t)(hi - 1);
  track_part_t *tp = &trk->parts[partition];
  /* Rebuild the full sequence number from its low bits: in-flight windows
   * are far smaller than 2^48. */
  uint64_t seq = tp->base_seq +
                 (((token & TRACK_SEQ_MASK) - tp->base_seq) & TRACK_SEQ_MASK);
  if (seq < tp->base_seq || seq >= tp->base_seq + tp->cnt)
    return 0;
  return track_ack_at(trk, partition, (size_t)(seq - tp->base_seq), ok);
}

int wd_stream_track_ack_offset(wd_stream_track_t *trk, int32_t partition, int64_t offset,
                               int ok) {
  if (partition < 0 || (size_t)partition >= trk->part_cnt)
    return 0;
  const track_part_t *tp = &trk->parts[partition];
  size_t lo = 0, hi = tp->cnt; /* the ring's offsets only grow */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (tp->ring[(tp->head + mid) % tp->cap].offset < offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == tp->cnt || tp->ring[(tp->head + lo) % tp->cap].offset != offset)
    return 0;
  return track_ack_at(trk, partition, lo, ok);
}

/* Ack the \p i-th entry in flight of \p partition. */
static int track_ack_at(wd_stream_track_t *trk, int32_t partition, size_t i, int ok) {
  track_part_t *tp = &trk->parts[partition];
  track_ent_t *ent = &tp->ring[(tp->head + i) % tp->cap];
  if (ent->state != ENT_PENDING)
    return 0;
  ent->state = ok ? ENT_ACKED : ENT_FAILED;
  int64_t before = tp->next_offset;
  while (tp->cnt > 0 && tp->ring[tp->head].state == ENT_ACKED) {
    tp->next_offset = tp->ring[tp->head].offset + 1;
    tp->head = (tp->head + 1) % tp->cap;
    tp->cnt--;
    tp->base_seq++;
  }
  if (tp->next_offset != before && !tp->dirty) {
    if (trk->dirty_cnt == trk->dirty_cap) {
      trk->dirty_cap = trk->dirty_cap ? trk->dirty_cap * 2 : 16;
      trk->dirty = wd_realloc(trk->dirty, trk->dirty_cap * sizeof(*trk->dirty));
    }
    trk->dirty[trk->dirty_cnt++] = partition;
    tp->dirty = 1;
  }
  return 1;
}

int64_t wd_stream_track_next(const wd_stream_track_t *trk, int32_t partition) {
  if (partition < 0 || (size_t)partition >= trk->part_cnt)
    return -1;
  return trk->parts[partition].next_offset;
}

size_t wd_stream_track_inflight(const wd_stream_track_t *trk,
                                int32_t partition) {
  if (partition < 0 || (size_t)partition >= trk->part_cnt)
    return 0;
  return trk->parts[partition].cnt;
}

size_t wd_stream_track_take_dirty(wd_stream_track_t *trk, int32_t *dst,
                                  size_t dst_cap) {
  size_t n = trk->dirty_cnt < dst_cap ? trk->dirty_cnt : dst_cap;
  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++) {
    dst[i] = trk->dirty[i];
    trk->parts[dst[i]].dirty = 0;
  }
  memmove(trk->dirty, trk->dirty + n,
          (trk->dirty_cnt - n) * sizeof(*trk->dirty));
  trk->dirty_cnt -= n;
  return n;
}
