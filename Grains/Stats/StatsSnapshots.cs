using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains.Stats;

/// <summary>
/// A store grain's side of the statistics history: on each tick of its timer, a snapshot of the counters when they
/// changed since the last one. The counters are made durable in the store's own state first, so a snapshot never
/// holds more than a restarted store grain resumes from, and the counts of one purpose only grow from one snapshot
/// to the next (what the partner aggregates' day differences rely on).
/// </summary>
internal sealed partial class StatsSnapshots(IStatsHistoryStore history, TimeProvider time, ILogger logger)
{
    private ImmutableDictionary<Purpose, PurposeStats>? _taken;

    /// <param name="persist">Writes the store's counters as they are now.</param>
    public async Task TakeAsync(string storeId, StoreStats current, Func<Task> persist, CancellationToken cancellationToken)
    {
        if (current.Purposes.IsEmpty || (_taken is not null && Same(_taken, current.Purposes)))
        {
            return;
        }

        try
        {
            await persist();
            await history.AppendAsync(storeId, time.GetUtcNow(), current.Purposes, cancellationToken);
            _taken = current.Purposes;
        }
        catch (Exception exception)
        {
            // Statistics, not consent: the next tick tries again with the counters as they are then.
            LogSnapshotFailed(exception, storeId);
        }
    }

    private static bool Same(ImmutableDictionary<Purpose, PurposeStats> a, ImmutableDictionary<Purpose, PurposeStats> b) =>
        a.Count == b.Count && a.All(entry => b.TryGetValue(entry.Key, out var other) && other == entry.Value);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Store {StoreId}: the stats snapshot could not be stored")]
    private partial void LogSnapshotFailed(Exception exception, string storeId);
}
