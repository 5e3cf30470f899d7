using Microsoft.Extensions.Logging;
using Orleans.Utilities;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains.Feed;

/// <summary>
/// Numbers a store's changes and pushes them to the edge processes that subscribed (the observer pattern
/// of the Orleans GPSTracker sample). The sequence starts each activation at the activation time in
/// milliseconds times 1024, so it increases across activations and stays exact in JavaScript; a new
/// activation (a silo died) therefore shows as a jump, and clients resynchronise over HTTP.
/// </summary>
internal sealed class StoreFeedGrain(TimeProvider time, ILogger<StoreFeedGrain> logger) : Grain, IStoreFeedGrain
{
    /// <summary>Edges renew well within this; a dead edge stops receiving after it.</summary>
    public static readonly TimeSpan SubscriptionExpiry = TimeSpan.FromSeconds(30);

    private readonly ObserverManager<IStoreFeedObserver> _observers = new(SubscriptionExpiry, logger);
    private long _sequence;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _sequence = time.GetUtcNow().ToUnixTimeMilliseconds() * 1024;
        return Task.CompletedTask;
    }

    public Task<long> Subscribe(IStoreFeedObserver observer)
    {
        _observers.Subscribe(observer, observer);
        return Task.FromResult(_sequence);
    }

    public Task Unsubscribe(IStoreFeedObserver observer)
    {
        _observers.Unsubscribe(observer);
        return Task.CompletedTask;
    }

    public Task Publish(FeedEvent[] events)
    {
        var storeId = this.GetPrimaryKeyString();
        var messages = new FeedMessage[events.Length];
        for (var i = 0; i < events.Length; i++)
        {
            messages[i] = new FeedMessage(storeId, ++_sequence, events[i]);
        }

        if (_observers.Count > 0)
        {
            _observers.Notify(observer => observer.OnFeed(messages));
        }

        return Task.CompletedTask;
    }
}
