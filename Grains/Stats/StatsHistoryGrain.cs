using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains.Stats;

/// <summary>Reads snapshots from the consent store, on whichever silo the call lands; never older than the retention.</summary>
[StatelessWorker]
internal sealed class StatsHistoryGrain(IStatsHistoryStore store, IOptions<StatsHistoryOptions> options, TimeProvider time)
    : Grain, IStatsHistoryGrain
{
    public async Task<StatsPoint[]> Read(string storeId, DateTimeOffset from, DateTimeOffset to, bool withPrevious)
    {
        // Rows past the retention that the purge has not reached yet are not handed out; the purge keeps the newest
        // older one per purpose, which withPrevious may return as the baseline of the range.
        var oldest = time.GetUtcNow() - options.Value.Retention;
        if (from < oldest)
        {
            from = oldest;
        }

        var points = await store.ReadAsync(storeId, from, to, withPrevious, CancellationToken.None);
        return [.. points];
    }

    public Task<TimeSpan> Retention() => Task.FromResult(options.Value.Retention);
}
