using Orleans.Concurrency;

namespace ShopAstro.Grains.Interfaces;

/// <summary>A store's downstream system as the seller sees it: never its secret.</summary>
[GenerateSerializer, Immutable, Alias("shopastro.DownstreamSystem")]
public sealed record DownstreamSystem([property: Id(0)] string Id, [property: Id(1)] string Url, [property: Id(2)] DateTimeOffset CreatedAt);

/// <summary>What one downstream system has been sent: counts by state and the delivery latency of its acknowledged events.</summary>
[GenerateSerializer, Immutable, Alias("shopastro.DownstreamPropagation")]
public sealed record DownstreamPropagation(
    [property: Id(0)] string SystemId,
    [property: Id(1)] string Url,
    [property: Id(2)] long Pending,
    [property: Id(3)] long Delivered,
    [property: Id(4)] long Failed,
    [property: Id(5)] DateTimeOffset? OldestPendingAt,
    [property: Id(6)] DeliveryLatency? Latency,
    [property: Id(7)] string? LastError);

/// <summary>
/// From the change's commit to the system's 2xx, over the last <see cref="Count"/> acknowledged events (the
/// outbox keeps the last acknowledgements only: see README "Downstream propagation").
/// </summary>
[GenerateSerializer, Immutable, Alias("shopastro.DeliveryLatency")]
public sealed record DeliveryLatency(
    [property: Id(0)] int Count,
    [property: Id(1)] double LastMilliseconds,
    [property: Id(2)] double MeanMilliseconds,
    [property: Id(3)] double P50Milliseconds,
    [property: Id(4)] double P99Milliseconds,
    [property: Id(5)] DateTimeOffset LastAcknowledgedAt);

/// <summary>A store's downstream systems (key: store id): registration and what was propagated to them.</summary>
[Alias("shopastro.IDownstreamRegistryGrain")]
public interface IDownstreamRegistryGrain : IGrainWithStringKey
{
    /// <summary>
    /// Stores the system and starts its deliverer; events of changes committed from now on are sent to it. Null: the URL
    /// names a loopback or private address, which the cluster is configured not to call.
    /// </summary>
    [Alias("Register")]
    Task<DownstreamSystem?> Register(string url, string secret);

    [Alias("List"), ReadOnly]
    Task<DownstreamSystem[]> List();

    /// <summary>Removes the system with everything its outbox still held for it; false if the store has no such system.</summary>
    [Alias("Remove")]
    Task<bool> Remove(string systemId);

    [Alias("Propagation"), ReadOnly]
    Task<DownstreamPropagation[]> Propagation();
}

/// <summary>
/// The one deliverer of a store's events to one system (key: <c>{storeId}/{systemId}</c>): in outbox order, one at a
/// time, retried with backoff; a durable reminder brings it back after a silo failure.
/// </summary>
[Alias("shopastro.IDownstreamDeliveryGrain")]
public interface IDownstreamDeliveryGrain : IGrainWithStringKey
{
    /// <summary>Registers the reminder that keeps the deliverer alive for as long as the system is registered.</summary>
    [Alias("Start")]
    Task Start();

    [Alias("Stop")]
    Task Stop();

    /// <summary>New rows were committed: deliver now rather than at the next reminder tick.</summary>
    [Alias("Wake"), OneWay]
    Task Wake();
}

public static class DownstreamKeys
{
    public static string Of(string storeId, string systemId) => $"{storeId}/{systemId}";

    /// <summary>Store ids never contain '/', system ids are generated: the last '/' separates them.</summary>
    public static (string StoreId, string SystemId) Parse(string key)
    {
        var slash = key.LastIndexOf('/');
        return (key[..slash], key[(slash + 1)..]);
    }
}
