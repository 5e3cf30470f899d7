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

    public static bool Covers(System.Security.Claims.ClaimsPrincipal user, string storeId)
    {
        foreach (var claim in user.FindAll(EdgePolicies.StoreClaim))
        {
            if (claim.Value == EdgePolicies.AllStores || string.Equals(claim.Value, storeId, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}
