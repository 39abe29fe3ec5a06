/**
 * Deletes in bounded batches until a batch comes back short: each call of
 * `deleteBatch(limit)` is one short statement, so a table of millions is trimmed
 * without long locks. A short batch means nothing is left but rows someone else
 * holds locked (the next run takes them). Returns how many went in all.
 */
export async function deleteInBatches(deleteBatch: (limit: number) => Promise<number>, batchSize: number, onBatch: (deleted: number) => void = () => {}): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await deleteBatch(batchSize);
    total += deleted;
    onBatch(deleted);
    if (deleted < batchSize) return total;
  }
}
