using System.Collections.Concurrent;
using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using ShopAstro.Coherence;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Coherence;

/// <summary>
/// Where the policy of a decision comes from (docs/coherence.md, "S1, policy"): an edge decides a subject's lease with
/// the policy of its store's lease, which the store hands out (and a publish revokes) even before it has read its index
/// of subjects; a subject's decision lease carries the record only. Subjects' own copies are leased by the store and
/// named by version (<see cref="PolicyStamp"/>; the subject's side in <see cref="PolicyCopyTests"/>).
/// </summary>
public sealed class StoreLeasePolicyTests(SqliteEdgeFixture fixture) : IClassFixture<SqliteEdgeFixture>
{
    private readonly IGrainFactory _grains = fixture.Factory.Services.GetRequiredService<IGrainFactory>();

    [Fact]
    public async Task A_store_leases_its_policy_before_its_index_is_read_and_a_publish_revokes_that_lease_not_the_subjects()
    {
        var storeId = "storelease-" + Guid.NewGuid().ToString("N")[..8];
        var store = _grains.GetGrain<IStoreGrain>(storeId);
        Assert.Equal(PolicyPublishStatus.Published, (await store.PublishPolicy(Update(1))).Status);
        var calls = new RecordingHolder();
        var holder = _grains.CreateObjectReference<IDecisionLeaseHolder>(calls);

        // Just activated: the index is read only once an earlier activation's absence leases ran out (a decision lease).
        var storeLease = await store.LeaseAbsence(holder, Guid.Empty, -1);
        Assert.Equal(1, storeLease.Policy?.Version);
        Assert.True(storeLease.PolicyDuration > TimeSpan.Zero);
        Assert.Equal(TimeSpan.Zero, storeLease.Duration);

        var subject = _grains.GetGrain<ISubjectGrain>(SubjectKey.Of(storeId, "u1"));
        var lease = await subject.LeaseDecisions(holder);
        Assert.True(lease.Duration > TimeSpan.Zero);
        Assert.Equal(SubjectStatus.Active, lease.Subject.Status);

        // A policy-only store lease counts its holder: the publish revokes it before it is acknowledged; the subject's
        // lease carries no policy and stays.
        Assert.Equal(PolicyPublishStatus.Published, (await store.PublishPolicy(Update(2))).Status);
        Assert.Equal([$"absence {storeId}"], calls.Calls);
        Assert.Equal(2, (await store.LeaseAbsence(holder, Guid.Empty, -1)).Policy?.Version);
    }

    [Fact]
    public async Task A_store_leaves_out_the_policy_of_a_subjects_lease_only_when_the_request_names_that_version()
    {
        var storeId = "named-" + Guid.NewGuid().ToString("N")[..8];
        var store = _grains.GetGrain<IStoreGrain>(storeId);
        Assert.Equal(PolicyPublishStatus.Published, (await store.PublishPolicy(Update(1))).Status);
        var v1 = Assert.IsType<StorePolicy>((await store.AcquirePolicyLease("u2", present: false, null)).Policy);

        var named = await store.AcquirePolicyLease("u2", present: false, PolicyStamp.Of(v1));
        Assert.Null(named.Policy);
        Assert.True(named.Duration > TimeSpan.Zero);

        // The same number published at another time is another version.
        Assert.Equal(v1, (await store.AcquirePolicyLease("u2", present: false, new PolicyStamp(1, v1.PublishedAt.AddTicks(1)))).Policy);

        Assert.Equal(PolicyPublishStatus.Published, (await store.PublishPolicy(Update(2))).Status);
        var v2 = Assert.IsType<StorePolicy>((await store.AcquirePolicyLease("u2", present: false, PolicyStamp.Of(v1))).Policy);
        Assert.Equal(2, v2.Version);
        Assert.Null((await store.AcquirePolicyLease("u2", present: false, PolicyStamp.Of(v2))).Policy);
    }

    private static PolicyUpdate Update(int version) =>
        new(version, StoreStatus.Active, true, ImmutableDictionary<Purpose, PurposeSetting>.Empty.Add(Purpose.Analytics, new PurposeSetting(true, false)));

    private sealed class RecordingHolder : IDecisionLeaseHolder
    {
        private readonly ConcurrentQueue<string> _calls = new();

        public string[] Calls => [.. _calls];

        public Task Revoke(string storeId, string subjectId)
        {
            _calls.Enqueue($"revoke {storeId}/{subjectId}");
            return Task.CompletedTask;
        }

        public Task AddPresent(string storeId, string subjectId)
        {
            _calls.Enqueue($"present {storeId}/{subjectId}");
            return Task.CompletedTask;
        }

        public Task RevokeAbsence(string storeId)
        {
            _calls.Enqueue($"absence {storeId}");
            return Task.CompletedTask;
        }
    }
}
