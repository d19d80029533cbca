// Editor integration: a toggle on the level editor's play toolbar (its checked state follows
// r.RealMaster.Enable, whoever sets it) and a dockable RealMaster panel (Window menu).
#include "Framework/Application/SlateApplication.h"
#include "Framework/Docking/TabManager.h"
#include "HAL/IConsoleManager.h"
#include "Modules/ModuleManager.h"
#include "RealMasterModule.h"
#include "SRealMasterPanel.h"
#include "Styling/AppStyle.h"
#include "ToolMenus.h"
#include "Widgets/Docking/SDockTab.h"
#include "WorkspaceMenuStructure.h"
#include "WorkspaceMenuStructureModule.h"

#define LOCTEXT_NAMESPACE "RealMasterEditor"

namespace
{
const FName PanelTabName(TEXT("RealMasterPanel"));

bool IsRealMasterEnabled()
{
	const IConsoleVariable* Var = IConsoleManager::Get().FindConsoleVariable(RealMasterCVarNames::Enable);
	return Var && Var->GetInt() != 0;
}

void ToggleRealMaster()
{
	FRealMasterModule::SetConsoleVariable(RealMasterCVarNames::Enable, IsRealMasterEnabled() ? TEXT("0") : TEXT("1"));
}
} // namespace

class FRealMasterEditorModule : public IModuleInterface
{
public:
	virtual void StartupModule() override
	{
		FGlobalTabmanager::Get()
		    ->RegisterNomadTabSpawner(PanelTabName, FOnSpawnTab::CreateRaw(this, &FRealMasterEditorModule::SpawnPanel))
		    .SetDisplayName(LOCTEXT("PanelTitle", "RealMaster"))
		    .SetTooltipText(
		        LOCTEXT("PanelTooltip", "Prompt, weather presets, strength and live statistics of RealMaster Live."))
		    .SetGroup(WorkspaceMenu::GetMenuStructure().GetLevelEditorCategory());

		UToolMenus::RegisterStartupCallback(
		    FSimpleMulticastDelegate::FDelegate::CreateRaw(this, &FRealMasterEditorModule::RegisterMenus));
	}

	virtual void ShutdownModule() override
	{
		UToolMenus::UnRegisterStartupCallback(this);
		UToolMenus::UnregisterOwner(this);
		if (FSlateApplication::IsInitialized())
		{
			FGlobalTabmanager::Get()->UnregisterNomadTabSpawner(PanelTabName);
		}
	}

private:
	void RegisterMenus()
	{
		FToolMenuOwnerScoped OwnerScoped(this);
		UToolMenu* Toolbar = UToolMenus::Get()->ExtendMenu("LevelEditor.LevelEditorToolBar.PlayToolBar");
		FToolMenuSection& Section = Toolbar->FindOrAddSection("RealMaster");

		Section.AddEntry(FToolMenuEntry::InitToolBarButton(
		    "RealMasterToggle",
		    FUIAction(FExecuteAction::CreateStatic(&ToggleRealMaster), FCanExecuteAction(),
		              FIsActionChecked::CreateStatic(&IsRealMasterEnabled)),
		    LOCTEXT("ToggleLabel", "RealMaster"),
		    LOCTEXT("ToggleTooltip",
		            "Turn the RealMaster neural shader on or off in the viewports (r.RealMaster.Enable)."),
		    FSlateIcon(FAppStyle::GetAppStyleSetName(), "LevelEditor.Tabs.Viewports"),
		    EUserInterfaceActionType::ToggleButton));

		Section.AddEntry(FToolMenuEntry::InitToolBarButton(
		    "RealMasterPanel",
		    FUIAction(FExecuteAction::CreateLambda(
		        []()
		        {
			        FGlobalTabmanager::Get()->TryInvokeTab(PanelTabName);
		        })),
		    LOCTEXT("PanelLabel", "RealMaster Panel"), LOCTEXT("PanelButtonTooltip", "Open the RealMaster panel."),
		    FSlateIcon(FAppStyle::GetAppStyleSetName(), "Icons.Settings")));
	}

	TSharedRef<SDockTab> SpawnPanel(const FSpawnTabArgs& Args)
	{
		return SNew(SDockTab).TabRole(ETabRole::NomadTab)[SNew(SRealMasterPanel)];
	}
};

#undef LOCTEXT_NAMESPACE

IMPLEMENT_MODULE(FRealMasterEditorModule, RealMasterEditor)
