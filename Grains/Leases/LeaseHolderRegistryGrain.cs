using ShopAstro.Coherence;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains.Leases;

[GenerateSerializer, Alias("shopastro.LeaseHolderRegistryState")]
public sealed class LeaseHolderRegistryState
{
    [Id(0)] public List<IDecisionLeaseHolder> Holders { get; set; } = [];

    [Id(1)] public List<ExpelledHolder> Expelled { get; set; } = [];
}

/// <summary>
/// The edge processes that may hold decision leases (<see cref="HolderRegistry"/> keeps the rules). Renewals
/// live in memory; the set of edges is stored before a registration that it lacks is confirmed, and an expulsion
/// before it is answered. Not reentrant: a registration and an expulsion never interleave.
/// </summary>
internal sealed class LeaseHolderRegistryGrain(
    [PersistentState("leaseholders", StorageNames.Consent)] IPersistentState<LeaseHolderRegistryState> state,
    TimeProvider time) : Grain, ILeaseHolderRegistryGrain
{
    private HolderRegistry _registry = null!;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _registry = new HolderRegistry(time, state.State.Holders, state.State.Expelled);
        return Task.CompletedTask;
    }

    public async Task<bool> Register(IDecisionLeaseHolder holder)
    {
        if (_registry.IsExpelled(holder))
        {
            return false;
        }

        if (_registry.Register(holder))
        {
            await SaveAsync();
        }

        return true;
    }

    public async Task Unregister(IDecisionLeaseHolder holder)
    {
        if (_registry.Unregister(holder))
        {
            await SaveAsync();
        }
    }

    public async Task<TimeSpan> Expel(IDecisionLeaseHolder holder)
    {
        var remaining = _registry.Expel(holder, out var store);
        if (store)
        {
            try
            {
                await SaveAsync();
            }
            catch
            {
                // Never answered: a later expulsion of this holder must be stored before it is.
                _registry.ExpulsionNotStored(holder);
                throw;
            }
        }

        return remaining;
    }

    public Task<IDecisionLeaseHolder[]> GetHolders() => Task.FromResult(_registry.Live());

    private async Task SaveAsync()
    {
        var (holders, expelled) = _registry.Snapshot();
        await state.PersistAsync(new LeaseHolderRegistryState { Holders = [.. holders], Expelled = [.. expelled] }, this, "lease holder registry");
        _registry.Stored(holders);
    }
}
