using System.Collections.Concurrent;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Stats;

/// <summary>
/// Store counters gathered in this silo between flushes, so that a busy store costs its store grain one
/// call per silo per flush instead of one per check or write. Counters are never swapped out, only
/// drained, so grains may keep a reference to their store's.
/// </summary>
public sealed class StoreStatsCollector
{
    private readonly ConcurrentDictionary<string, Counters> _stores = new(StringComparer.Ordinal);

    public Counters For(string storeId) => _stores.GetOrAdd(storeId, static _ => new Counters());

    /// <summary>Everything counted since the last drain, per store; zero counters left out.</summary>
    public IEnumerable<(string StoreId, Dictionary<Purpose, PurposeStats> Delta)> Drain()
    {
        foreach (var (storeId, counters) in _stores)
        {
            if (counters.Drain() is { Count: > 0 } delta)
            {
                yield return (storeId, delta);
            }
        }
    }

    public sealed class Counters
    {
        private const int Fields = 6;
        private readonly long[] _values = new long[Purposes.Count * Fields];

        public void Checked(Decision decision)
        {
            Interlocked.Increment(ref _values[Index(decision.Purpose, 0)]);
            if (decision.Allowed)
            {
                Interlocked.Increment(ref _values[Index(decision.Purpose, 1)]);
            }
        }

        /// <summary>The latest choice for a purpose went from <paramref name="before"/> to <paramref name="after"/> (null: none).</summary>
        public void Chose(Purpose purpose, bool? before, bool? after, bool counted = true)
        {
            if (counted && after is { } choice)
            {
                Interlocked.Increment(ref _values[Index(purpose, choice ? 2 : 3)]);
            }

            if (before == after)
            {
                return;
            }

            if (before is { } was)
            {
                Interlocked.Decrement(ref _values[Index(purpose, was ? 4 : 5)]);
            }

            if (after is { } now)
            {
                Interlocked.Increment(ref _values[Index(purpose, now ? 4 : 5)]);
            }
        }

        internal Dictionary<Purpose, PurposeStats> Drain()
        {
            var delta = new Dictionary<Purpose, PurposeStats>();
            foreach (var purpose in Purposes.All)
            {
                var stats = new PurposeStats(
                    Take(purpose, 0), Take(purpose, 1), Take(purpose, 2), Take(purpose, 3), Take(purpose, 4), Take(purpose, 5));
                if (!stats.IsZero)
                {
                    delta[purpose] = stats;
                }
            }

            return delta;
        }

        private long Take(Purpose purpose, int field) => Interlocked.Exchange(ref _values[Index(purpose, field)], 0);

        private static int Index(Purpose purpose, int field) => ((int)purpose * Fields) + field;
    }
}
