/**
 * An async iterable mapped item by item, whose `return` reaches the source at once.
 * An async generator (`for await … yield`) would not do: its `return` waits until the
 * generator next yields, and a stream waiting for events may not yield for a while,
 * holding what the source holds.
 */
export function mapStream<T, U>(source: AsyncIterable<T>, map: (item: T) => U, mapError: (error: unknown) => unknown = (error) => error): AsyncIterable<U> {
  return {
    [Symbol.asyncIterator]: () => {
      const iterator = source[Symbol.asyncIterator]();
      return {
        async next(): Promise<IteratorResult<U>> {
          let result: IteratorResult<T>;
          try {
            result = await iterator.next();
          } catch (error) {
            throw mapError(error);
          }
          return result.done === true ? { done: true, value: undefined } : { done: false, value: map(result.value) };
        },
        async return(): Promise<IteratorResult<U>> {
          await iterator.return?.();
          return { done: true, value: undefined };
        },
      };
    },
  };
}
