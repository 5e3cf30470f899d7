using System.Data.Common;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Grains.Stats;

namespace ShopAstro.Silo.Storage;

/// <summary>The statistics history in the consent store's <c>ConsentStatsHistory</c> table (see <see cref="StatsHistorySchema"/>).</summary>
internal sealed class ConsentStatsHistoryStore(ConsentStore store) : IStatsHistoryStore
{
    public async Task AppendAsync(
        string storeId, DateTimeOffset at, IReadOnlyDictionary<Purpose, PurposeStats> purposes, CancellationToken cancellationToken)
    {
        await using var connection = await store.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        foreach (var (purpose, stats) in purposes)
        {
            await using var command = Command(connection, StatsHistorySchema.Insert, storeId);
            command.Transaction = transaction;
            Add(command, "Purpose", (int)purpose);
            Add(command, "At", at.ToUnixTimeMilliseconds());
            Add(command, "Checks", stats.Checks);
            Add(command, "Allowed", stats.Allowed);
            Add(command, "Grants", stats.Grants);
            Add(command, "Withdrawals", stats.Withdrawals);
            Add(command, "Granted", stats.Granted);
            Add(command, "Withdrawn", stats.Withdrawn);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<StatsPoint>> ReadAsync(
        string storeId, DateTimeOffset from, DateTimeOffset to, bool withPrevious, CancellationToken cancellationToken)
    {
        var points = new List<StatsPoint>();
        await using var connection = await store.OpenAsync(cancellationToken);
        if (withPrevious)
        {
            await ReadInto(StatsHistorySchema.Previous);
        }

        await ReadInto(StatsHistorySchema.Range);
        return points;

        async Task ReadInto(string sql)
        {
            await using var command = Command(connection, sql, storeId);
            Add(command, "From", from.ToUnixTimeMilliseconds());
            Add(command, "To", to.ToUnixTimeMilliseconds());
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                points.Add(new StatsPoint(
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(0)),
                    (Purpose)reader.GetInt32(1),
                    new PurposeStats(reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5), reader.GetInt64(6), reader.GetInt64(7))));
            }
        }
    }

    public async Task<int> PurgeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        await using var connection = await store.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = StatsHistorySchema.Purge;
        Add(command, "ServiceId", ClusterSettings.ServiceId);
        Add(command, "Cutoff", cutoff.ToUnixTimeMilliseconds());
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static DbCommand Command(DbConnection connection, string sql, string storeId)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        Add(command, "ServiceId", ClusterSettings.ServiceId);
        Add(command, "StoreId", storeId);
        return command;
    }

    private static void Add(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }
}

/// <summary>Deletes snapshots past <see cref="StatsHistoryOptions.Retention"/> at start and then hourly; every silo may run it.</summary>
internal sealed partial class StatsHistoryPurge(
    IStatsHistoryStore history, IOptions<StatsHistoryOptions> options, TimeProvider time, ILogger<StatsHistoryPurge> logger) : BackgroundService
{
    public static readonly TimeSpan Period = TimeSpan.FromHours(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Period, time);
        do
        {
            try
            {
                var purged = await history.PurgeAsync(time.GetUtcNow() - options.Value.Retention, stoppingToken);
                LogPurged(purged);
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                // The next hour tries again; reads never hand out rows past the retention meanwhile.
                LogPurgeFailed(exception);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Stats history: {Purged} snapshots past the retention deleted")]
    private partial void LogPurged(int purged);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stats history: the purge failed")]
    private partial void LogPurgeFailed(Exception exception);
}
