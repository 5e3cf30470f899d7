using System.Diagnostics.CodeAnalysis;
using Orleans.Core;
using Orleans.Runtime;
using Orleans.Storage;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains;

/// <summary>
/// A subject grain's stored record: read from the consent storage when the grain activates, written and cleared
/// through it, as <c>[PersistentState]</c> would, but in one object. Orleans' persistent state costs every
/// activation a bridge, a separate state object, a grain lifecycle with its observer list and a migration
/// participant list (about 400 bytes, measured by <c>load-tests/</c>' memory bench), and subject grains are the
/// cluster's per-grain memory budget. Nothing is carried across a migration: a moved grain reads its record again.
/// Failures are those of the storage provider, wrapped like Orleans' own (an <see cref="OrleansException"/> around
/// anything that is not one), so that callers see the same exceptions as before.
/// </summary>
internal sealed class SubjectState(IGrainContext grain, IGrainStorage storage) : IPersistentState<SubjectRecord>, IGrainState<SubjectRecord>
{
    /// <summary>The state's name in the consent storage (the <c>[PersistentState]</c> name it was stored under).</summary>
    public const string Name = "subject";

    /// <summary>No record reads as the shared empty one (records are immutable), as does a null from the provider.</summary>
    [AllowNull]
    public SubjectRecord State
    {
        get;
        set => field = value ?? SubjectRecord.Empty;
    } = SubjectRecord.Empty;

    public string? ETag { get; set; }

    public bool RecordExists { get; set; }

    string? IStorage.Etag => ETag;

    public Task ReadStateAsync() => Run(() => storage.ReadStateAsync(Name, grain.GrainId, this), "read");

    public Task WriteStateAsync() => Run(() => storage.WriteStateAsync(Name, grain.GrainId, this), "written");

    public async Task ClearStateAsync()
    {
        await Run(() => storage.ClearStateAsync(Name, grain.GrainId, this), "cleared");
        State = SubjectRecord.Empty;
    }

    private async Task Run(Func<Task> operation, string done)
    {
        try
        {
            await operation();
        }
        catch (Exception exception) when (exception is not OrleansException)
        {
            throw new OrleansException($"The {Name} state of {grain.GrainId} could not be {done}.", exception);
        }
    }
}
