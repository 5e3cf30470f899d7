using System.Globalization;
using Orleans.Runtime;
using Orleans.Serialization.Serializers;
using Orleans.Storage;
using ShopAstro.Grains.Downstream;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Silo.Storage;

/// <summary>
/// The consent store's grain storage, on the queries and the serializer of Orleans' ADO.NET provider: reads go through
/// <see cref="GroupRead"/>, writes through <see cref="GroupCommit"/> with the outbox rows of a downstream event staged by
/// the subject grain (<see cref="OutboxStaging"/>) in the same transaction, so an acknowledged change always has its
/// rows and a write that failed (or lost its version race) has none; the provider itself clears.
/// </summary>
internal sealed class ConsentGrainStorage(
    AdoNetGrainStorage inner, string name, string serviceId, GroupRead reads, GroupCommit commits, OutboxStaging staging,
    IActivatorProvider activators)
    : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>
{
    /// <summary>Orleans' provider underneath (for tests: rows it writes are this storage's rows).</summary>
    internal AdoNetGrainStorage Provider => inner;

    public void Participate(ISiloLifecycle lifecycle) => inner.Participate(lifecycle);

    /// <summary>As the provider reads: the stored state and its version, or a new state and no version when there is no row.</summary>
    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var row = await reads.ReadAsync(new ConsentRead(ConsentKey.Of(inner, serviceId, name, stateName, grainId, grainState)));
        grainState.State = row?.Payload is { } payload
            ? inner.Serializer.Deserialize<T>(new BinaryData(payload))
            : activators.GetActivator<T>().Create();
        grainState.ETag = row?.Version.ToString(CultureInfo.InvariantCulture);
        grainState.RecordExists = row is not null;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ClearStateAsync(stateName, grainId, grainState);

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        staging.TryTake(grainId, out var staged);
        int? version = string.IsNullOrWhiteSpace(grainState.ETag) ? null : int.Parse(grainState.ETag, CultureInfo.InvariantCulture);
        var write = new ConsentWrite(
            ConsentKey.Of(inner, serviceId, name, stateName, grainId, grainState), version,
            inner.Serializer.Serialize(grainState.State).ToArray(), staged?.Event, CallDeadline.Current);
        var outcome = await commits.WriteAsync(write);
        if (outcome.Lost)
        {
            throw new InconsistentStateException(
                $"Version conflict (WriteState): ServiceId={serviceId} ProviderName={name} GrainType={stateName} GrainId={write.Key} ETag={grainState.ETag}.");
        }

        grainState.ETag = outcome.NewVersion;
        grainState.RecordExists = true;
        if (staged is not null)
        {
            staged.QueuedFor = outcome.QueuedFor;
        }
    }
}
