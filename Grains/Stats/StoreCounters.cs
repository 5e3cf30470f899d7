using Microsoft.Extensions.Logging;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains.Stats;

/// <summary>
/// A store's counters (checks, choices, current choices per purpose): merged from every silo's flushes, told to the
/// live feed, kept in the store grain's <c>storestats</c> state and snapshotted into the history. Statistics, not
/// consent: a crash may lose the counts of up to <see cref="PersistInterval"/>.
/// </summary>
internal sealed class StoreCounters(IPersistentState<StoreStats> state, IStatsHistoryStore history, TimeProvider time, ILogger logger)
{
    private static readonly TimeSpan PersistInterval = TimeSpan.FromSeconds(10);

    private readonly StatsSnapshots _snapshots = new(history, time, logger);
    private DateTimeOffset _persistedAt;

    public StoreStats Current => state.State;

    /// <param name="announce">Tells the live feed of the counters as they are now.</param>
    public async Task MergeAsync(IReadOnlyDictionary<Purpose, PurposeStats> delta, Action<FeedEvent> announce)
    {
        var now = time.GetUtcNow();
        state.State = state.State.Add(delta, now);
        announce(new FeedEvent(FeedEventType.StatsChanged, now, Stats: state.State));
        if (now - _persistedAt >= PersistInterval)
        {
            await PersistAsync();
        }
    }

    /// <summary>One tick of the history: a snapshot if the counters changed since the last one.</summary>
    public Task SnapshotAsync(string storeId, CancellationToken cancellationToken) =>
        _snapshots.TakeAsync(storeId, state.State, PersistAsync, cancellationToken);

    private Task PersistAsync()
    {
        _persistedAt = time.GetUtcNow();
        return state.WriteStateAsync();
    }
}
