using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Tests.Infrastructure;

/// <summary>A lease holder that confirms every revocation at once and keeps nothing; named in traces by <paramref name="name"/>.</summary>
public sealed class NoOpLeaseHolder(string name = "holder") : IDecisionLeaseHolder
{
    public Task Revoke(string storeId, string subjectId) => Task.CompletedTask;

    public Task AddPresent(string storeId, string subjectId) => Task.CompletedTask;

    public Task RevokeAbsence(string storeId) => Task.CompletedTask;

    public override string ToString() => name;
}
