using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Coherence;

/// <summary>
/// The registry's list of edges as one silo reads it, shared by the grain activations of that silo: an
/// activation asks for a list read after it was activated (every edge that could have taken a lease from an
/// earlier activation had registered by then), and concurrent activations share one read.
/// </summary>
public sealed class RegisteredHolders(TimeProvider time, Func<Task<IDecisionLeaseHolder[]>> read)
{
    private readonly Lock _lock = new();
    private long _startedAt = long.MinValue;
    private Task<IDecisionLeaseHolder[]>? _reading;

    public RegisteredHolders(TimeProvider time, IGrainFactory grains)
        : this(time, () => grains.GetGrain<ILeaseHolderRegistryGrain>(0).GetHolders())
    {
    }

    /// <summary>The edges registered at some instant after <paramref name="timestamp"/>.</summary>
    public Task<IDecisionLeaseHolder[]> ReadSinceAsync(long timestamp)
    {
        lock (_lock)
        {
            if (_reading is { IsFaulted: false, IsCanceled: false } reading && _startedAt >= timestamp)
            {
                return reading;
            }

            _startedAt = time.GetTimestamp();
            return _reading = read();
        }
    }
}
