using ShopAstro.Coherence;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains.Leases;

[GenerateSerializer, Alias("shopastro.LeaseHolderRegistryState")]
public sealed class LeaseHolderRegistryState
{
    [Id(0)] public List<IDecisionLeaseHolder> Holders { get; set; } = [];
}

/// <summary>
/// The edge processes that may hold decision leases (<see cref="HolderRegistry"/> keeps the rules). Renewals
/// live in memory; the set of edges is stored before a registration that it lacks is confirmed.
/// </summary>
internal sealed class LeaseHolderRegistryGrain(
    [PersistentState("leaseholders", StorageNames.Consent)] IPersistentState<LeaseHolderRegistryState> state,
    TimeProvider time) : Grain, ILeaseHolderRegistryGrain
{
    private HolderRegistry _registry = null!;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _registry = new HolderRegistry(time, state.State.Holders);
        return Task.CompletedTask;
    }

    public Task Register(IDecisionLeaseHolder holder) => SaveAsync(_registry.Register(holder));

    public Task Unregister(IDecisionLeaseHolder holder) => SaveAsync(_registry.Unregister(holder));

    public Task<IDecisionLeaseHolder[]> GetHolders() => Task.FromResult(_registry.Live());

    private async Task SaveAsync(IReadOnlyList<IDecisionLeaseHolder>? holders)
    {
        if (holders is not null)
        {
            await state.PersistAsync(new LeaseHolderRegistryState { Holders = [.. holders] }, this, "lease holder registry");
            _registry.Stored(holders);
        }
    }
}
