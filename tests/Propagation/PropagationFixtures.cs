using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Propagation;

/// <summary>One edge API (embedded silo) with short delivery timings, over SQLite or PostgreSQL, shared by a test class.</summary>
public abstract class PropagationFixture(bool postgres) : IAsyncLifetime
{
    public static readonly IReadOnlyDictionary<string, string?> FastDelivery = new Dictionary<string, string?>
    {
        ["Downstream:DeliveryTimeout"] = "00:00:01",
        ["Downstream:RetryInitialDelay"] = "00:00:00.200",
        ["Downstream:RetryMaxDelay"] = "00:00:01",
        ["Downstream:ReminderPeriod"] = "00:00:05",
        ["Requests:AllowProvisionalDueDates"] = "true",
        // The tests' receivers listen on loopback.
        ["Downstream:AllowPrivateNetworks"] = "true",
    };

    public EdgeApiFactory Factory { get; private set; } = null!;

    public TestDatabase Database { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Database = postgres ? await TestDatabase.PostgresAsync() : TestDatabase.Sqlite();
        Factory = new EdgeApiFactory(Database.ConnectionString, FastDelivery);
        _ = Factory.Server;
    }

    public async Task DisposeAsync()
    {
        await Factory.DisposeAsync();
        await Database.DisposeAsync();
    }
}

public sealed class SqlitePropagationFixture() : PropagationFixture(postgres: false);

public sealed class PostgresPropagationFixture() : PropagationFixture(postgres: true);
