using Microsoft.Extensions.Configuration;
using Orleans.Configuration;

namespace ShopAstro.Silo;

/// <summary>Configuration keys of the cluster, shared by silos and edge clients.</summary>
public static class ClusterSettings
{
    public const string RedisConnectionStringName = "Redis";
    public const string ClusterId = "shopastro";
    public const string ServiceId = "shopastro-consent";

    public static string? RedisConnectionString(IConfiguration configuration) =>
        configuration.GetConnectionString(RedisConnectionStringName) is { Length: > 0 } redis ? redis : null;

    /// <summary>Silos and clients meet under one cluster id (<c>Orleans:ClusterId</c>, default <c>shopastro</c>).</summary>
    public static Action<ClusterOptions> ConfigureCluster(IConfiguration configuration) => options =>
    {
        options.ClusterId = configuration["Orleans:ClusterId"] is { Length: > 0 } clusterId ? clusterId : ClusterId;
        options.ServiceId = ServiceId;
    };

    /// <summary>
    /// Failure detection tuned for a loopback or LAN cluster: a silo that stops answering probes is declared
    /// dead within a few seconds, so its grains re-activate elsewhere (Orleans' defaults take 15 s or more).
    /// </summary>
    public static void ConfigureMembership(ClusterMembershipOptions options)
    {
        options.ProbeTimeout = TimeSpan.FromSeconds(1);
        options.NumMissedProbesLimit = 2;
        options.NumVotesForDeathDeclaration = 1;
        options.TableRefreshTimeout = TimeSpan.FromSeconds(2);
        // A silo replacing the only one, which died, has nobody to vote with: it waits until the dead silo's
        // I-am-alive row is stale, NumMissedTableIAmAliveLimit x IAmAliveTablePublishTimeout.
        options.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(2);
        options.NumMissedTableIAmAliveLimit = 2;
        options.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(30);
    }

    /// <summary>
    /// How long a read of the membership table that named a silo alive lets its activations answer
    /// (<see cref="ShopAstro.Coherence.MembershipFence"/>): less than the quickest death declaration after a silo stops
    /// answering probes (a probe sent just before it stopped, then one more: about one <c>ProbeTimeout</c>), so that a
    /// silo that was stopped and replaced has answered its last before the replacement exists. Orleans 10 declares later
    /// in practice (it suppresses the vote against a silo it heard from within its monitoring window, 8 s here:
    /// tests/Faults/SiloPausedPastDeathTests); the bound does not rely on that.
    /// </summary>
    public static readonly TimeSpan FenceValidity = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// A storage failure inside a silo reaches the edge as itself (a DbException: 503), not as a codec
    /// error: Npgsql's exceptions join the namespaces Orleans serialises across processes.
    /// </summary>
    public static void ConfigureExceptions(Orleans.Serialization.ExceptionSerializationOptions options)
    {
        if (!options.SupportedNamespacePrefixes.Contains("Npgsql"))
        {
            options.SupportedNamespacePrefixes.Add("Npgsql");
        }
    }

    /// <summary>Clients look for new gateways often, so that a replaced silo is found quickly.</summary>
    public static void ConfigureGateways(GatewayOptions options) => options.GatewayListRefreshPeriod = TimeSpan.FromSeconds(2);
}
