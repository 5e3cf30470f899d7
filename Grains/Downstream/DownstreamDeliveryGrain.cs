using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains.Downstream;

/// <summary>
/// Delivers one system's outbox rows strictly in commit order: the head row is retried (backoff doubling from
/// <see cref="DownstreamOptions.RetryInitialDelay"/> to <see cref="DownstreamOptions.RetryMaxDelay"/>) until it is
/// acknowledged or given up after <see cref="DownstreamOptions.GiveUpAfter"/>, and nothing behind it goes first.
/// Woken by the subject grains that commit rows, by a timer for the next retry, and by a durable reminder that
/// exists as long as the system is registered, so that rows committed before a silo died are delivered by the
/// activation that follows on another.
/// </summary>
internal sealed partial class DownstreamDeliveryGrain(
    IDownstreamStore store,
    DownstreamSender sender,
    IOptions<DownstreamOptions> options,
    TimeProvider time,
    ILogger<DownstreamDeliveryGrain> logger) : Grain, IDownstreamDeliveryGrain, IRemindable
{
    private const string ReminderName = "downstream-delivery";
    private const int Batch = 100;

    private string _storeId = "";
    private string _systemId = "";
    private DownstreamEndpoint? _endpoint;
    private IGrainTimer? _retry;
    private DateTimeOffset _lastPrune;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_storeId, _systemId) = DownstreamKeys.Parse(this.GetPrimaryKeyString());
        return Task.CompletedTask;
    }

    public async Task Start()
    {
        var period = options.Value.ReminderPeriod;
        await this.RegisterOrUpdateReminder(ReminderName, period, period);
    }

    public async Task Stop()
    {
        _retry?.Dispose();
        _retry = null;
        if (await this.GetReminder(ReminderName) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }

        DeactivateOnIdle();
    }

    public Task Wake() => DeliverAsync();

    public Task ReceiveReminder(string reminderName, Orleans.Runtime.TickStatus status) =>
        reminderName == ReminderName ? DeliverAsync() : Task.CompletedTask;

    private async Task DeliverAsync()
    {
        try
        {
            _endpoint ??= await store.GetEndpointAsync(_storeId, _systemId);
            if (_endpoint is null)
            {
                // Removed (a Stop that failed leaves its reminder to find out).
                await Stop();
                return;
            }

            await DeliverDueAsync(_endpoint);
            await PruneAsync();
        }
        catch (Exception exception)
        {
            // The outbox could not be read or updated: the rows stay; the reminder tries again.
            LogDeliveryFailed(exception, _storeId, _systemId);
        }
    }

    private async Task DeliverDueAsync(DownstreamEndpoint endpoint)
    {
        var settings = options.Value;
        while (true)
        {
            var pending = await store.PendingAsync(_storeId, _systemId, Batch);
            if (pending.Count == 0)
            {
                return;
            }

            foreach (var row in pending)
            {
                var now = time.GetUtcNow();
                if (row.NextAttemptAt > now)
                {
                    ScheduleRetry(row.NextAttemptAt - now);
                    return;
                }

                var error = await sender.SendAsync(endpoint, row.EventId, row.Body, CancellationToken.None);
                now = time.GetUtcNow();
                var attempts = row.Attempts + 1;
                if (error is null)
                {
                    await store.AcknowledgedAsync(row.Sequence, now);
                    continue;
                }

                if (now - row.CreatedAt >= settings.GiveUpAfter)
                {
                    LogGaveUp(_storeId, _systemId, row.EventId, attempts, error);
                    await store.FailedAsync(row.Sequence, attempts, now, error);
                    continue;
                }

                var delay = Backoff(attempts, settings);
                await store.RetryLaterAsync(row.Sequence, attempts, now + delay, error);
                ScheduleRetry(delay);
                return;
            }
        }
    }

    internal static TimeSpan Backoff(int attempts, DownstreamOptions settings)
    {
        var factor = Math.Pow(2, Math.Min(attempts - 1, 30));
        var delay = settings.RetryInitialDelay * factor;
        return delay < settings.RetryMaxDelay ? delay : settings.RetryMaxDelay;
    }

    private void ScheduleRetry(TimeSpan delay)
    {
        _retry?.Dispose();
        _retry = this.RegisterGrainTimer(_ => DeliverAsync(), new GrainTimerCreationOptions(delay, Timeout.InfiniteTimeSpan) { KeepAlive = true });
    }

    private async Task PruneAsync()
    {
        var now = time.GetUtcNow();
        if (now - _lastPrune < options.Value.ReminderPeriod)
        {
            return;
        }

        _lastPrune = now;
        await store.PruneAcknowledgedAsync(_storeId, _systemId, now - options.Value.AcknowledgedRetention);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Downstream delivery {StoreId}/{SystemId} failed; the reminder retries")]
    private partial void LogDeliveryFailed(Exception exception, string storeId, string systemId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Downstream {StoreId}/{SystemId}: event {EventId} failed after {Attempts} attempts ({Error})")]
    private partial void LogGaveUp(string storeId, string systemId, string eventId, int attempts, string error);
}
