using Microsoft.AspNetCore.Authorization;

namespace ShopAstro.EdgeApi.Auth;

/// <summary>The token must cover the store named by the route's <c>storeId</c>.</summary>
public sealed class StoreScopeRequirement : IAuthorizationRequirement;

public sealed class StoreScopeHandler : AuthorizationHandler<StoreScopeRequirement>
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, StoreScopeRequirement requirement)
    {
        var storeId = context.Resource switch
        {
            HttpContext http => http.GetRouteValue("storeId") as string,
            _ => null,
        };

        if (storeId is not null && Covers(context.User, storeId))
        {
            context.Succeed(requirement);
        }

        return Task.CompletedTask;
    }

    public static bool Covers(System.Security.Claims.ClaimsPrincipal user, string storeId) =>
        Covers(user.FindAll(EdgePolicies.StoreClaim).Select(claim => claim.Value).ToArray(), storeId);

    /// <summary>The rule: a token covers the stores it names, and every store when it names <c>*</c>.</summary>
    public static bool Covers(IReadOnlyList<string> stores, ReadOnlySpan<char> storeId)
    {
        for (var i = 0; i < stores.Count; i++)
        {
            var store = stores[i];
            if (store == EdgePolicies.AllStores || storeId.SequenceEqual(store))
            {
                return true;
            }
        }

        return false;
    }
}
