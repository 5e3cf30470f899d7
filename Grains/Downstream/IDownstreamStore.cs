using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains.Downstream;

/// <summary>A registered system with what signing needs.</summary>
public sealed record DownstreamEndpoint(string Url, string Secret);

/// <summary>One pending outbox row of one system.</summary>
public sealed record OutboxDelivery(long Sequence, string EventId, string Body, DateTimeOffset CreatedAt, int Attempts, DateTimeOffset NextAttemptAt);

/// <summary>The downstream systems and the outbox, in the consent store (Silo/Storage/DownstreamStore.cs).</summary>
public interface IDownstreamStore
{
    Task AddSystemAsync(string storeId, DownstreamSystem system, string secret, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<DownstreamSystem>> ListSystemsAsync(string storeId, CancellationToken cancellationToken = default);

    Task<DownstreamEndpoint?> GetEndpointAsync(string storeId, string systemId, CancellationToken cancellationToken = default);

    /// <summary>The system and every row its outbox holds; false if there was none.</summary>
    Task<bool> RemoveSystemAsync(string storeId, string systemId, CancellationToken cancellationToken = default);

    /// <summary>The system's oldest pending rows, in the order they were committed.</summary>
    Task<IReadOnlyList<OutboxDelivery>> PendingAsync(string storeId, string systemId, int limit, CancellationToken cancellationToken = default);

    /// <summary>Acknowledged: the time is kept, the subject id and body are not.</summary>
    Task AcknowledgedAsync(long sequence, DateTimeOffset at, CancellationToken cancellationToken = default);

    Task RetryLaterAsync(long sequence, int attempts, DateTimeOffset next, string error, CancellationToken cancellationToken = default);

    /// <summary>Given up: kept as failed, without subject id or body.</summary>
    Task FailedAsync(long sequence, int attempts, DateTimeOffset at, string error, CancellationToken cancellationToken = default);

    /// <summary>Drops acknowledged rows older than <paramref name="before"/>.</summary>
    Task PruneAcknowledgedAsync(string storeId, string systemId, DateTimeOffset before, CancellationToken cancellationToken = default);

    Task<DownstreamPropagation[]> PropagationAsync(string storeId, CancellationToken cancellationToken = default);
}
