using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;
using ShopAstro.EdgeApi.Auth;
using ShopAstro.EdgeApi.Http;

namespace ShopAstro.EdgeApi.Feed;

/// <summary>
/// The sellers' live feed at <c>/hubs/consent</c>. Only seller and admin tokens connect; a connection
/// subscribes to the stores its token covers and then receives consentChanged, policyChanged,
/// statsChanged and requestOverdue for those stores only.
/// </summary>
[Authorize(Policy = EdgePolicies.FeedSubscriber)]
public sealed class ConsentHub(FeedRelay relay) : Hub
{
    public const string Path = "/hubs/consent";

    public async Task<SubscribeResult> Subscribe(string storeId)
    {
        if (!Ids.IsValid(storeId) || Context.User is not { } user || !StoreScopeHandler.Covers(user, storeId))
        {
            // The store id is not echoed: it is the caller's input, of any length.
            throw new HubException("forbidden: this token does not cover that store.");
        }

        var sequence = await relay.AddAsync(storeId, Context.ConnectionId);
        return new SubscribeResult(storeId, sequence);
    }

    public Task Unsubscribe(string storeId) =>
        Ids.IsValid(storeId) ? relay.RemoveAsync(storeId, Context.ConnectionId) : Task.CompletedTask;

    public override Task OnDisconnectedAsync(Exception? exception) => relay.RemoveConnectionAsync(Context.ConnectionId);
}
