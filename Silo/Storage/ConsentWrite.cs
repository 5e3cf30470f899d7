using System.Data;
using System.Data.Common;
using System.Globalization;
using System.Text;
using Orleans.Runtime;
using Orleans.Storage;
using ShopAstro.Grains.Downstream;

namespace ShopAstro.Silo.Storage;

/// <summary>
/// One grain's state write, as Orleans' ADO.NET provider would send it (the parameters of <see cref="ConsentSchema"/>'s
/// write query), with the downstream event staged for it, if any, and the deadline of the call it serves.
/// </summary>
internal sealed class ConsentWrite(ConsentKey key, int? version, byte[] payload, OutboxEvent? outgoing, DateTimeOffset? deadline)
{
    private readonly TaskCompletionSource<ConsentWriteOutcome> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ConsentKey Key { get; } = key;

    public int? Version { get; } = version;

    public OutboxEvent? Event { get; } = outgoing;

    /// <summary>Past it, the caller has been answered: the write is not sent (<see cref="Grains.Interfaces.CallDeadline"/>).</summary>
    public DateTimeOffset? Deadline { get; } = deadline;

    public Task<ConsentWriteOutcome> Outcome => _done.Task;

    /// <summary>Settled only once the transaction holding the write has committed, or has failed.</summary>
    public void Settle(ConsentWriteOutcome outcome) => _done.TrySetResult(outcome);

    public void Fail(Exception exception) => _done.TrySetException(exception);

    /// <summary>The write query's parameters, on a command or a batch command.</summary>
    public void Bind(DbParameterCollection parameters, Func<DbParameter> create)
    {
        Key.Bind(parameters, create);
        var version = create();
        version.ParameterName = "GrainStateVersion";
        version.DbType = DbType.Int32;
        version.Value = Version is { } v ? v : DBNull.Value;
        parameters.Add(version);
        var state = create();
        state.ParameterName = "PayloadBinary";
        state.Value = payload;
        parameters.Add(state);
    }

    /// <summary>The outbox parameters of <see cref="DownstreamSchema.QueueEvent"/> (ServiceId is the write's).</summary>
    public void BindEvent(DbParameterCollection parameters, Func<DbParameter> create, bool withServiceId)
    {
        var outgoing = Event ?? throw new InvalidOperationException("The write carries no event.");
        void Add(string name, object value)
        {
            var parameter = create();
            parameter.ParameterName = name;
            parameter.Value = value;
            parameters.Add(parameter);
        }

        if (withServiceId)
        {
            Add("ServiceId", Key.ServiceId);
        }

        Add("StoreId", outgoing.StoreId);
        Add("EventId", outgoing.Id);
        Add("EventType", outgoing.Type);
        Add("SubjectId", outgoing.SubjectId);
        Add("Body", outgoing.Body);
        Add("CreatedAt", outgoing.At.ToUnixTimeMilliseconds());
    }

    /// <summary>
    /// The provider's judgement of what the write query returned: a new version, or the version it was given back (or
    /// nothing), which means another activation wrote first.
    /// </summary>
    public ConsentWriteOutcome Judge(string? returned, IReadOnlyList<string> queuedFor) =>
        returned is null || returned == VersionText ? ConsentWriteOutcome.Conflict : new ConsentWriteOutcome(returned, queuedFor);

    private string? VersionText => Version?.ToString(CultureInfo.InvariantCulture);
}

/// <summary>What a committed write left: its row's new version and the systems its event was queued for; or a lost race.</summary>
internal sealed record ConsentWriteOutcome(string? NewVersion, IReadOnlyList<string> QueuedFor)
{
    public static ConsentWriteOutcome Conflict { get; } = new(null, []);

    public bool Lost => NewVersion is null;
}

/// <summary>
/// A grain's row in the state table, keyed as Orleans' ADO.NET provider keys it (so that rows it wrote are found, and
/// it finds ours): a string key in GrainIdExtensionString; an integer key in GrainIdN1, a Guid key in GrainIdN0 and
/// GrainIdN1, each with its key extension, if any, in GrainIdExtensionString; hashed as the provider hashes them.
/// </summary>
internal sealed record ConsentKey(string ServiceId, string GrainType, long N0, long N1, string? Extension, int GrainIdHash, int GrainTypeHash)
{
    public static ConsentKey Of<T>(AdoNetGrainStorage provider, string serviceId, string providerName, string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var hasher = provider.HashPicker.PickHasher(serviceId, providerName, stateName, grainId, grainState)
            ?? throw new InvalidOperationException("The grain storage picked no hasher.");
        long n0 = 0, n1 = 0;
        string? extension;
        byte[] hashed;
        if (grainId.TryGetGuidKey(out var guid, out extension))
        {
            hashed = guid.ToByteArray();
            n0 = BitConverter.ToInt64(hashed, 0);
            n1 = BitConverter.ToInt64(hashed, 8);
        }
        else if (grainId.TryGetIntegerKey(out var integer, out extension))
        {
            n1 = integer;
            hashed = BitConverter.GetBytes(integer);
        }
        else
        {
            extension = grainId.Key.ToString()!;
            hashed = [];
        }

        // The key's bytes then the extension's (a string key is its extension alone), reversed on little-endian machines.
        if (extension is not null)
        {
            hashed = [.. hashed, .. Encoding.UTF8.GetBytes(extension)];
        }

        if (BitConverter.IsLittleEndian)
        {
            Array.Reverse(hashed);
        }

        return new ConsentKey(serviceId, stateName, n0, n1, extension, hasher.Hash(hashed), hasher.Hash(Encoding.UTF8.GetBytes(stateName)));
    }

    /// <summary>One order of rows for every transaction (see <see cref="GroupCommit"/>).</summary>
    public static int Compare(ConsentKey a, ConsentKey b) =>
        string.CompareOrdinal(a.GrainType, b.GrainType) is var byType and not 0 ? byType
        : a.N0.CompareTo(b.N0) is var byN0 and not 0 ? byN0
        : a.N1.CompareTo(b.N1) is var byN1 and not 0 ? byN1
        : string.CompareOrdinal(a.Extension ?? string.Empty, b.Extension ?? string.Empty);

    public override string ToString() => Extension is null ? $"{N0:x}/{N1:x}" : N0 == 0 && N1 == 0 ? Extension : $"{N0:x}/{N1:x}#{Extension}";

    public void Bind(DbParameterCollection parameters, Func<DbParameter> create)
    {
        void Add(string name, object? value)
        {
            var parameter = create();
            parameter.ParameterName = name;
            parameter.Value = value ?? DBNull.Value;
            parameters.Add(parameter);
        }

        Add("GrainIdHash", GrainIdHash);
        Add("GrainIdN0", N0);
        Add("GrainIdN1", N1);
        Add("GrainTypeHash", GrainTypeHash);
        Add("GrainTypeString", GrainType);
        Add("GrainIdExtensionString", Extension);
        Add("ServiceId", ServiceId);
    }
}
