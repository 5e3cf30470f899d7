using System.Data;
using System.Data.Common;
using System.Globalization;
using ShopAstro.Grains.Downstream;

namespace ShopAstro.Silo.Storage;

/// <summary>
/// One grain's state write, as Orleans' ADO.NET provider would send it (the parameters of <see cref="ConsentSchema"/>'s
/// write query), with the downstream event staged for it, if any, and the deadline of the call it serves.
/// </summary>
internal sealed class ConsentWrite(ConsentKey key, int? version, byte[] payload, OutboxEvent? outgoing, DateTimeOffset? deadline)
    : IGroupedStatement<ConsentWriteOutcome>
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
