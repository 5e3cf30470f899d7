using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR;
using ShopAstro.EdgeApi.Http;
using ShopAstro.EdgeApi.Telemetry;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.EdgeApi.Feed;

/// <summary>
/// This edge process's end of the live feed: it subscribes to the feed grain of every store that has a
/// dashboard connected here, renews those subscriptions (a feed grain re-activated after a silo died
/// starts with none), and hands each message to this process's own connections of that store. Sends are
/// never awaited by the feed, and a connection with too many sends in flight drops messages, which it
/// sees as a gap in the sequence and answers by re-reading over HTTP.
/// </summary>
public sealed partial class FeedRelay(IGrainFactory grains, IHubContext<ConsentHub> hub, EdgeMetrics metrics, ILogger<FeedRelay> logger)
    : IStoreFeedObserver, IHostedService, IDisposable
{
    public static readonly TimeSpan RenewalPeriod = TimeSpan.FromSeconds(5);
    public const int MaxSendsInFlightPerConnection = 256;

    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, Subscriber>> _stores = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _subscriptionLock = new(1, 1);
    private IStoreFeedObserver? _reference;
    private Timer? _renewal;

    private sealed class Subscriber
    {
        public int InFlight;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _renewal = new Timer(_ => _ = RenewAsync(), null, RenewalPeriod, RenewalPeriod);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _renewal?.Change(Timeout.Infinite, Timeout.Infinite);
        return Task.CompletedTask;
    }

    /// <summary>Adds a connection to a store's feed; returns the store's current sequence.</summary>
    public async Task<long> AddAsync(string storeId, string connectionId)
    {
        var connections = _stores.GetOrAdd(storeId, _ => new ConcurrentDictionary<string, Subscriber>(StringComparer.Ordinal));
        connections.TryAdd(connectionId, new Subscriber());
        await _subscriptionLock.WaitAsync();
        try
        {
            return await grains.GetGrain<IStoreFeedGrain>(storeId).Subscribe(Reference);
        }
        finally
        {
            _subscriptionLock.Release();
        }
    }

    public async Task RemoveAsync(string storeId, string connectionId)
    {
        if (_stores.TryGetValue(storeId, out var connections) && connections.TryRemove(connectionId, out _) && connections.IsEmpty)
        {
            _stores.TryRemove(new KeyValuePair<string, ConcurrentDictionary<string, Subscriber>>(storeId, connections));
            try
            {
                await grains.GetGrain<IStoreFeedGrain>(storeId).Unsubscribe(Reference);
            }
            catch (Exception exception)
            {
                // The subscription expires by itself.
                LogRenewalFailed(exception, storeId);
            }
        }
    }

    public async Task RemoveConnectionAsync(string connectionId)
    {
        foreach (var storeId in _stores.Keys)
        {
            await RemoveAsync(storeId, connectionId);
        }
    }

    public Task OnFeed(FeedMessage[] messages)
    {
        foreach (var message in messages)
        {
            if (!_stores.TryGetValue(message.StoreId, out var connections) || connections.IsEmpty)
            {
                continue;
            }

            metrics.FeedDelivered(message.Event.At);
            var (method, payload) = ToWire(message);
            foreach (var (connectionId, subscriber) in connections)
            {
                if (Interlocked.Increment(ref subscriber.InFlight) > MaxSendsInFlightPerConnection)
                {
                    Interlocked.Decrement(ref subscriber.InFlight);
                    continue;
                }

                _ = SendAsync(connectionId, subscriber, method, payload);
            }
        }

        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _renewal?.Dispose();
        _subscriptionLock.Dispose();
    }

    private IStoreFeedObserver Reference => _reference ??= grains.CreateObjectReference<IStoreFeedObserver>(this);

    private async Task SendAsync(string connectionId, Subscriber subscriber, string method, object payload)
    {
        try
        {
            await hub.Clients.Client(connectionId).SendAsync(method, payload);
        }
        catch (Exception exception)
        {
            LogSendFailed(exception, connectionId);
        }
        finally
        {
            Interlocked.Decrement(ref subscriber.InFlight);
        }
    }

    private async Task RenewAsync()
    {
        foreach (var (storeId, connections) in _stores)
        {
            if (connections.IsEmpty)
            {
                continue;
            }

            try
            {
                await grains.GetGrain<IStoreFeedGrain>(storeId).Subscribe(Reference);
            }
            catch (Exception exception)
            {
                LogRenewalFailed(exception, storeId);
            }
        }
    }

    private static (string Method, object Payload) ToWire(FeedMessage message)
    {
        var e = message.Event;
        var at = e.At.UtcDateTime;
        return e.Type switch
        {
            FeedEventType.ConsentChanged => ("consentChanged",
                new ConsentChangedMessage(message.StoreId, message.Sequence, at, e.SubjectId!, e.Purpose!.Value.ToId(), e.Granted!.Value)),
            FeedEventType.PolicyChanged => ("policyChanged",
                new PolicyChangedMessage(message.StoreId, message.Sequence, at, e.Policy!.Version, e.Policy.Status.ToId())),
            FeedEventType.PolicyScheduled => ("policyScheduled",
                new PolicyScheduledMessage(message.StoreId, message.Sequence, at, e.Policy!.Version, e.Policy.Status.ToId(),
                    e.Policy.InForceFrom.UtcDateTime, e.Cancelled)),
            FeedEventType.StatsChanged => ("statsChanged",
                new StatsChangedMessage(message.StoreId, message.Sequence, at, e.Stats!.ToResponse(message.StoreId))),
            FeedEventType.RequestOverdue => ("requestOverdue",
                new RequestOverdueMessage(message.StoreId, message.Sequence, at, e.Request!.Id, e.Request.SubjectId ?? e.SubjectId!,
                    e.Request.Type.ToId(), e.Request.DueAt.UtcDateTime)),
            _ => throw new InvalidOperationException($"Unknown feed event {e.Type}."),
        };
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Feed subscription of store {StoreId} could not be renewed")]
    private partial void LogRenewalFailed(Exception exception, string storeId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Feed message to connection {ConnectionId} failed")]
    private partial void LogSendFailed(Exception exception, string connectionId);
}
