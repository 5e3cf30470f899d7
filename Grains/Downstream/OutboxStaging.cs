using System.Collections.Concurrent;

namespace ShopAstro.Grains.Downstream;

/// <summary>
/// Hands a subject grain's downstream event to the grain storage that writes its state, so that the outbox rows are
/// inserted in the transaction of that write (Silo/Storage/ConsentGrainStorage.cs): an acknowledged change always has
/// its event, a change that was not stored never does. Keyed by grain id: an activation writes one state at a time.
/// </summary>
public sealed class OutboxStaging
{
    private readonly ConcurrentDictionary<GrainId, Staged> _staged = new();

    /// <summary>The event rides on the next write of <paramref name="grain"/>'s state made before the scope ends.</summary>
    public Staged Stage(GrainId grain, OutboxEvent outgoing)
    {
        var staged = new Staged(this, grain, outgoing);
        _staged[grain] = staged;
        return staged;
    }

    /// <summary>Called by the storage as it writes <paramref name="grain"/>'s state.</summary>
    public bool TryTake(GrainId grain, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Staged? staged) =>
        _staged.TryRemove(grain, out staged);

    public sealed class Staged(OutboxStaging staging, GrainId grain, OutboxEvent outgoing) : IDisposable
    {
        public OutboxEvent Event { get; } = outgoing;

        /// <summary>The systems the committed event was queued for, set by the storage once the transaction committed.</summary>
        public IReadOnlyList<string> QueuedFor { get; set; } = [];

        public void Dispose() => staging._staged.TryRemove(new KeyValuePair<GrainId, Staged>(grain, this));
    }
}
