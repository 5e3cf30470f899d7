using System.Data.Common;
using ShopAstro.Grains.Downstream;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Silo.Storage;

/// <summary>The downstream systems and the outbox (<see cref="DownstreamSchema"/>) in the consent store.</summary>
internal sealed class DownstreamStore(ConsentStore store) : IDownstreamStore
{
    private const string Scope = "ServiceId = @ServiceId AND StoreId = @StoreId";
    private const string SystemScope = Scope + " AND SystemId = @SystemId";

    /// <summary>How many of the latest acknowledgements the latency figures cover.</summary>
    private const int LatencySample = 1000;

    public async Task AddSystemAsync(string storeId, DownstreamSystem system, string secret, CancellationToken cancellationToken)
    {
        await using var connection = await store.OpenAsync(cancellationToken);
        await using var command = Command(connection, null, """
            INSERT INTO DownstreamSystem (ServiceId, StoreId, SystemId, Url, Secret, CreatedAt)
            VALUES (@ServiceId, @StoreId, @SystemId, @Url, @Secret, @CreatedAt)
            """, storeId, system.Id);
        command.AddParameter("Url", system.Url);
        command.AddParameter("Secret", secret);
        command.AddParameter("CreatedAt", system.CreatedAt.ToUnixTimeMilliseconds());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<DownstreamSystem>> ListSystemsAsync(string storeId, CancellationToken cancellationToken)
    {
        await using var connection = await store.OpenAsync(cancellationToken);
        await using var command = Command(connection, null,
            $"SELECT SystemId, Url, CreatedAt FROM DownstreamSystem WHERE {Scope} ORDER BY CreatedAt, SystemId", storeId);
        var systems = new List<DownstreamSystem>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            systems.Add(new DownstreamSystem(reader.GetString(0), reader.GetString(1), Time(reader.GetInt64(2))));
        }

        return systems;
    }

    public async Task<DownstreamEndpoint?> GetEndpointAsync(string storeId, string systemId, CancellationToken cancellationToken)
    {
        await using var connection = await store.OpenAsync(cancellationToken);
        await using var command = Command(connection, null, $"SELECT Url, Secret FROM DownstreamSystem WHERE {SystemScope}", storeId, systemId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? new DownstreamEndpoint(reader.GetString(0), reader.GetString(1)) : null;
    }

    public async Task<bool> RemoveSystemAsync(string storeId, string systemId, CancellationToken cancellationToken)
    {
        await using var connection = await store.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var rows = Command(connection, transaction, $"DELETE FROM DownstreamOutbox WHERE {SystemScope}", storeId, systemId))
        {
            await rows.ExecuteNonQueryAsync(cancellationToken);
        }

        int removed;
        await using (var system = Command(connection, transaction, $"DELETE FROM DownstreamSystem WHERE {SystemScope}", storeId, systemId))
        {
            removed = await system.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return removed > 0;
    }

    public async Task<IReadOnlyList<OutboxDelivery>> PendingAsync(string storeId, string systemId, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await store.OpenAsync(cancellationToken);
        await using var command = Command(connection, null, $"""
            SELECT Seq, EventId, Body, CreatedAt, Attempts, NextAttemptAt FROM DownstreamOutbox
            WHERE {SystemScope} AND Status = {DownstreamSchema.Pending} ORDER BY Seq LIMIT @Limit
            """, storeId, systemId);
        command.AddParameter("Limit", limit);
        var rows = new List<OutboxDelivery>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new OutboxDelivery(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), Time(reader.GetInt64(3)),
                reader.GetInt32(4), Time(reader.GetInt64(5))));
        }

        return rows;
    }

    public Task AcknowledgedAsync(long sequence, DateTimeOffset at, CancellationToken cancellationToken) =>
        UpdateAsync(sequence, $"""
            Status = {DownstreamSchema.Acknowledged}, Attempts = Attempts + 1, AckedAt = @At, SubjectId = NULL, Body = NULL, LastError = NULL
            """, cancellationToken, ("At", at.ToUnixTimeMilliseconds()));

    public Task RetryLaterAsync(long sequence, int attempts, DateTimeOffset next, string error, CancellationToken cancellationToken) =>
        UpdateAsync(sequence, "Attempts = @Attempts, NextAttemptAt = @Next, LastError = @Error", cancellationToken,
            ("Attempts", attempts), ("Next", next.ToUnixTimeMilliseconds()), ("Error", error));

    public Task FailedAsync(long sequence, int attempts, DateTimeOffset at, string error, CancellationToken cancellationToken) =>
        UpdateAsync(sequence, $"""
            Status = {DownstreamSchema.Failed}, Attempts = @Attempts, FailedAt = @At, LastError = @Error, SubjectId = NULL, Body = NULL
            """, cancellationToken, ("Attempts", attempts), ("At", at.ToUnixTimeMilliseconds()), ("Error", error));

    public async Task PruneAcknowledgedAsync(string storeId, string systemId, DateTimeOffset before, CancellationToken cancellationToken)
    {
        await using var connection = await store.OpenAsync(cancellationToken);
        await using var command = Command(connection, null,
            $"DELETE FROM DownstreamOutbox WHERE {SystemScope} AND Status = {DownstreamSchema.Acknowledged} AND AckedAt < @Before", storeId, systemId);
        command.AddParameter("Before", before.ToUnixTimeMilliseconds());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<DownstreamPropagation[]> PropagationAsync(string storeId, CancellationToken cancellationToken)
    {
        var systems = await ListSystemsAsync(storeId, cancellationToken);
        await using var connection = await store.OpenAsync(cancellationToken);
        var counts = new Dictionary<(string, int), (long Count, long Oldest)>();
        await using (var command = Command(connection, null,
            $"SELECT SystemId, Status, COUNT(*), MIN(CreatedAt) FROM DownstreamOutbox WHERE {Scope} GROUP BY SystemId, Status", storeId))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                counts[(reader.GetString(0), Convert.ToInt32(reader.GetValue(1)))] = (reader.GetInt64(2), reader.GetInt64(3));
            }
        }

        var result = new DownstreamPropagation[systems.Count];
        for (var i = 0; i < systems.Count; i++)
        {
            var system = systems[i];
            var pending = counts.GetValueOrDefault((system.Id, DownstreamSchema.Pending));
            result[i] = new DownstreamPropagation(
                system.Id,
                system.Url,
                pending.Count,
                counts.GetValueOrDefault((system.Id, DownstreamSchema.Acknowledged)).Count,
                counts.GetValueOrDefault((system.Id, DownstreamSchema.Failed)).Count,
                pending.Count > 0 ? Time(pending.Oldest) : null,
                await LatencyAsync(connection, storeId, system.Id, cancellationToken),
                await LastErrorAsync(connection, storeId, system.Id, cancellationToken));
        }

        return result;
    }

    private static async Task<DeliveryLatency?> LatencyAsync(DbConnection connection, string storeId, string systemId, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, null, $"""
            SELECT AckedAt - CreatedAt, AckedAt FROM DownstreamOutbox
            WHERE {SystemScope} AND Status = {DownstreamSchema.Acknowledged} ORDER BY Seq DESC LIMIT {LatencySample}
            """, storeId, systemId);
        var latencies = new List<double>();
        long lastAcknowledged = 0;
        double last = 0;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var latency = reader.GetInt64(0);
            var acknowledged = reader.GetInt64(1);
            if (acknowledged > lastAcknowledged)
            {
                (lastAcknowledged, last) = (acknowledged, latency);
            }

            latencies.Add(latency);
        }

        if (latencies.Count == 0)
        {
            return null;
        }

        latencies.Sort();
        return new DeliveryLatency(latencies.Count, last, latencies.Average(), Percentile(latencies, 0.50), Percentile(latencies, 0.99),
            Time(lastAcknowledged));
    }

    private static async Task<string?> LastErrorAsync(DbConnection connection, string storeId, string systemId, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, null,
            $"SELECT LastError FROM DownstreamOutbox WHERE {SystemScope} AND LastError IS NOT NULL ORDER BY Seq DESC LIMIT 1", storeId, systemId);
        return await command.ExecuteScalarAsync(cancellationToken) as string;
    }

    /// <summary>Nearest rank.</summary>
    private static double Percentile(List<double> sorted, double p) =>
        sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];

    private async Task UpdateAsync(long sequence, string set, CancellationToken cancellationToken, params (string Name, object Value)[] values)
    {
        await using var connection = await store.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"UPDATE DownstreamOutbox SET {set} WHERE Seq = @Seq";
        command.AddParameter("Seq", sequence);
        foreach (var (name, value) in values)
        {
            command.AddParameter(name, value);
        }

        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql, string storeId, string? systemId = null)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.AddParameter("ServiceId", ClusterSettings.ServiceId);
        command.AddParameter("StoreId", storeId);
        if (systemId is not null)
        {
            command.AddParameter("SystemId", systemId);
        }

        return command;
    }

    private static DateTimeOffset Time(long milliseconds) => DateTimeOffset.FromUnixTimeMilliseconds(milliseconds);
}
