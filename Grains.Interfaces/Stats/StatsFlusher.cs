using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Stats;

/// <summary>Hands this silo's store counters to the store grains once a second.</summary>
public sealed partial class StatsFlusher(StoreStatsCollector collector, IGrainFactory grains, TimeProvider time, ILogger<StatsFlusher> logger)
    : BackgroundService
{
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Period, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            await Task.WhenAll(collector.Drain().Select(async store =>
            {
                try
                {
                    await grains.GetGrain<IStoreGrain>(store.StoreId).MergeStats(store.Delta);
                }
                catch (Exception exception)
                {
                    // Counters are statistics, not consent: a lost flush is logged, never retried into a pile-up.
                    LogFlushFailed(exception, store.StoreId);
                }
            }));
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Store {StoreId}: stats flush failed")]
    private partial void LogFlushFailed(Exception exception, string storeId);
}
