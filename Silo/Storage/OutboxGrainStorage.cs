using System.Data;
using System.Data.Common;
using System.Globalization;
using System.Text;
using Orleans.Runtime;
using Orleans.Storage;
using ShopAstro.Grains.Downstream;

namespace ShopAstro.Silo.Storage;

/// <summary>
/// Orleans' ADO.NET grain storage, except for a state write that carries a downstream event (staged by the subject
/// grain in <see cref="OutboxStaging"/>): that write runs the provider's own write query (<see cref="ConsentSchema"/>)
/// with the same parameters, and inserts the event's outbox rows, in one transaction. So an acknowledged change
/// always has its rows, and a write that failed (or lost its version race) has none.
/// </summary>
internal sealed class OutboxGrainStorage(
    AdoNetGrainStorage inner, string name, string serviceId, ConsentStore store, OutboxStaging staging)
    : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) => inner.Participate(lifecycle);

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ReadStateAsync(stateName, grainId, grainState);

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ClearStateAsync(stateName, grainId, grainState);

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        staging.TryTake(grainId, out var staged)
            ? WriteWithEventAsync(stateName, grainId, grainState, staged)
            : inner.WriteStateAsync(stateName, grainId, grainState);

    private async Task WriteWithEventAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, OutboxStaging.Staged staged)
    {
        // The parameters AdoNetGrainStorage gives its write query for a string-keyed grain.
        var key = grainId.Key.ToString()!;
        var hasher = inner.HashPicker.PickHasher(serviceId, name, stateName, grainId, grainState)
            ?? throw new InvalidOperationException("The grain storage picked no hasher.");
        var keyBytes = Encoding.UTF8.GetBytes(key);
        if (BitConverter.IsLittleEndian)
        {
            Array.Reverse(keyBytes);
        }

        int? version = string.IsNullOrWhiteSpace(grainState.ETag) ? null : int.Parse(grainState.ETag, CultureInfo.InvariantCulture);
        var payload = inner.Serializer.Serialize(grainState.State).ToArray();

        await using var connection = await store.OpenAsync(CancellationToken.None);
        await using var transaction = await connection.BeginTransactionAsync();
        string? written;
        await using (var write = connection.CreateCommand())
        {
            write.Transaction = transaction;
            write.CommandText = ConsentSchema.For(store.Kind).Write;
            write.AddParameter("GrainIdHash", hasher.Hash(keyBytes));
            write.AddParameter("GrainIdN0", 0L);
            write.AddParameter("GrainIdN1", 0L);
            write.AddParameter("GrainTypeHash", hasher.Hash(Encoding.UTF8.GetBytes(stateName)));
            write.AddParameter("GrainTypeString", stateName);
            write.AddParameter("GrainIdExtensionString", key);
            write.AddParameter("ServiceId", serviceId);
            var versionParameter = write.CreateParameter();
            versionParameter.ParameterName = "GrainStateVersion";
            versionParameter.DbType = DbType.Int32;
            versionParameter.Value = version is { } v ? v : DBNull.Value;
            write.Parameters.Add(versionParameter);
            write.AddParameter("PayloadBinary", payload);
            written = await FirstValueAsync(write);
        }

        // As the provider judges it: the version it was given back (or none) means another activation wrote first.
        if (written is null || written == grainState.ETag)
        {
            await transaction.RollbackAsync();
            throw new InconsistentStateException(
                $"Version conflict (WriteState): ServiceId={serviceId} ProviderName={name} GrainType={stateName} GrainId={key} ETag={grainState.ETag}.");
        }

        var queued = new List<string>();
        await using (var queue = connection.CreateCommand())
        {
            var outgoing = staged.Event;
            queue.Transaction = transaction;
            queue.CommandText = DownstreamSchema.QueueEvent;
            queue.AddParameter("ServiceId", serviceId);
            queue.AddParameter("StoreId", outgoing.StoreId);
            queue.AddParameter("EventId", outgoing.Id);
            queue.AddParameter("EventType", outgoing.Type);
            queue.AddParameter("SubjectId", outgoing.SubjectId);
            queue.AddParameter("Body", outgoing.Body);
            queue.AddParameter("CreatedAt", outgoing.At.ToUnixTimeMilliseconds());
            await using var reader = await queue.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                queued.Add(reader.GetString(0));
            }
        }

        await transaction.CommitAsync();
        grainState.ETag = written;
        grainState.RecordExists = true;
        staged.QueuedFor = queued;
    }

    /// <summary>The first non-null value of the first column over every result set (the SQLite write has two statements).</summary>
    private static async Task<string?> FirstValueAsync(DbCommand command)
    {
        string? value = null;
        await using var reader = await command.ExecuteReaderAsync();
        do
        {
            while (await reader.ReadAsync())
            {
                if (value is null && !await reader.IsDBNullAsync(0))
                {
                    value = Convert.ToString(reader.GetValue(0), CultureInfo.InvariantCulture);
                }
            }
        }
        while (await reader.NextResultAsync());

        return value;
    }
}
